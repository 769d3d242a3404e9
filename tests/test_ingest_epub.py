"""tasks.ingest (EPUB): hostile input, tiny books built here, and real books from tests/data."""

from __future__ import annotations

import os
import re
import shutil
import struct
import zipfile
from pathlib import Path

import pytest

from castline.errors import EpubError, InputError
from castline.model import Book
from tasks.ingest import SOURCE_READERS, read_source, source_format
from tasks.ingest.epub import ZipLimits, read_epub
from tasks.ingest.safezip import MiB

DATA = Path(__file__).parent / "data"
CORPUS_EPUB = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "epub"
ALICE = DATA / "pg19033_alice_epub2.epub"
WASTELAND = DATA / "idpf_wasteland_epub3.epub"
KUSAMAKURA = DATA / "idpf_kusamakura_ja_vertical_MISSING-AUDIO_epub3.epub"
NESTED = DATA / "palace_nestedtoc.epub"
SPACES = DATA / "palace_spaces-in-filename.epub"

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64
XHTML11_DOCTYPE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">'
)
BOMB_DOCTYPE = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)
CONTAINER = (
    '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
    '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
    "</rootfiles></container>"
)


# -- building EPUBs in the tests ----------------------------------------------------------------


def xhtml(body: str, *, title: str = "t", doctype: str = "<!DOCTYPE html>", body_type: str = "") -> str:
    attr = f' epub:type="{body_type}"' if body_type else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
        f"<head><title>{title}</title></head><body{attr}>{body}</body></html>"
    )


def write_zip(path: Path, files: dict[str, str | bytes], *, mimetype: bool = True) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if mimetype:
            archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def opf3(manifest: str, spine: str, *, metadata: str = "", version: str = "3.0", spine_attrs: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<package xmlns="http://www.idpf.org/2007/opf" version="{version}" unique-identifier="uid">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">'
        '<dc:identifier id="uid">urn:uuid:0</dc:identifier>'
        f"{metadata or '<dc:title>Tiny</dc:title><dc:language>en</dc:language>'}</metadata>"
        f"<manifest>{manifest}</manifest><spine{spine_attrs}>{spine}</spine></package>"
    )


def item(item_id: str, href: str, media: str = "application/xhtml+xml", props: str = "") -> str:
    extra = f' properties="{props}"' if props else ""
    return f'<item id="{item_id}" href="{href}" media-type="{media}"{extra}/>'


def spine(*ids: str) -> str:
    return "".join(f'<itemref idref="{i}"/>' for i in ids)


TINY3_NAV = xhtml(
    '<nav epub:type="toc"><h1>Contents</h1><ol>'
    '<li><a href="text/title.xhtml">Title Page</a></li>'
    "<li><span>Part One</span><ol>"
    '<li><a href="text/ch1.xhtml#c1">Chapter   1.\n The Beginning</a><ol>'
    '<li><a href="text/ch1.xhtml#s11">Section 1.1</a></li></ol></li>'
    '<li><a href="text/ch2.xhtml#nowhere">Chapter 2</a></li></ol></li>'
    '<li><a href="text/notes.xhtml">Notes</a></li>'
    '<li><a href="text/lost.xhtml">Lost</a></li>'
    '<li><a href="text/colophon.xhtml">Colophon</a></li>'
    "</ol></nav>"
    '<nav epub:type="landmarks"><ol><li><a epub:type="bodymatter" href="text/ch1.xhtml#c1">Start</a></li></ol></nav>'
)
TINY3_CH1 = xhtml(
    '<section id="c1" epub:type="chapter"><h1>Chapter 1</h1><h2>The Beginning</h2>'
    '<p>It&nbsp;was a dark night<a epub:type="noteref" href="notes.xhtml#n1">1</a> and a '
    '<span epub:type="pagebreak" id="page2" title="2">2</span>stormy one<sup><a href="#fn2">2</a></sup>; '
    'the <span class="pagenum">[Pg 12]</span>rain fell<a href="#fn3">[3]</a> &#x2014; hard.</p>'
    "<p>Roses are red,<br/>Violets are blue.</p>"
    '<img src="../images/cover.png" alt="A picture"/><script>var x = "no";</script><style>p {}</style>'
    '<p><ruby>山路<rt>やまみち</rt></ruby>を登る。</p>'
    '<aside epub:type="footnote" id="fn2"><p>A footnote body.</p></aside>'
    "<h3>A later subheading</h3><div>Direct text in a div.<p>Nested paragraph.</p></div>"
    '<div>Before a break<hr/><img src="../images/t.png" alt="T"/>he end.</div></section>'
    '<section id="s11"><h3>Section 1.1</h3><p>Inside the section.</p></section>',
    doctype=XHTML11_DOCTYPE,
    body_type="bodymatter",
)


def tiny_epub3(path: Path, **overrides: str | bytes) -> Path:
    """A small EPUB 3 exercising the TOC, matter, text and metadata rules."""
    metadata = (
        '<dc:title id="sub">The Subtitle</dc:title><meta refines="#sub" property="title-type">subtitle</meta>'
        '<dc:title id="main">  The   Main Title </dc:title><meta refines="#main" property="title-type">main</meta>'
        '<dc:creator id="a1">Ann Author</dc:creator><meta refines="#a1" property="role">aut</meta>'
        '<dc:creator id="i1">Ian Illustrator</dc:creator><meta refines="#i1" property="role">ill</meta>'
        "<dc:language>en-GB</dc:language>"
    )
    manifest = "".join(
        [
            item("nav", "nav.xhtml", props="nav"),
            item("cover", "images/cover.png", "image/png", "cover-image"),
            item("title", "text/title.xhtml"),
            item("ch1", "text/ch1.xhtml"),
            item("ch2", "text/ch2.xhtml"),
            item("notes", "text/notes.xhtml"),
            item("colophon", "text/colophon.xhtml"),
            item("audio", "audio/gone.mp3", "audio/mpeg"),
        ]
    )
    files: dict[str, str | bytes] = {
        "META-INF/container.xml": CONTAINER,
        "OEBPS/content.opf": opf3(manifest, spine("title", "ch1", "ch2", "notes", "colophon"), metadata=metadata),
        "OEBPS/nav.xhtml": TINY3_NAV,
        "OEBPS/images/cover.png": PNG,
        "OEBPS/text/title.xhtml": xhtml('<section epub:type="titlepage"><img src="../images/cover.png"/></section>'),
        "OEBPS/text/ch1.xhtml": TINY3_CH1,
        "OEBPS/text/ch2.xhtml": xhtml("<h1>Chapter 2</h1><p>Second chapter text.</p>", body_type="bodymatter"),
        "OEBPS/text/notes.xhtml": xhtml(
            '<section epub:type="endnotes"><h1>Notes</h1>'
            '<aside epub:type="endnote" id="n1"><p>1. The note itself.</p></aside></section>',
            body_type="backmatter",
        ),
        "OEBPS/text/colophon.xhtml": xhtml(
            '<section epub:type="colophon"><p>Set in type.</p></section>', title="Colophon"
        ),
    }
    files.update(overrides)
    return write_zip(path, files)


def tiny_epub2(path: Path) -> Path:
    """A small EPUB 2: NCX with nested navPoints, a file name with a space, a guide cover."""
    ncx = (
        '<?xml version="1.0"?><ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><navMap>'
        '<navPoint id="a"><navLabel><text>Copyright</text></navLabel><content src="front.html"/></navPoint>'
        '<navPoint id="b"><navLabel><text>Chapter One</text></navLabel><content src="chapter%20one.html#one"/>'
        '<navPoint id="c"><navLabel><text>A Scene</text></navLabel><content src="chapter%20one.html#scene"/>'
        "</navPoint></navPoint></navMap></ncx>"
    )
    manifest = "".join(
        [
            item("ncx", "toc.ncx", "application/x-dtbncx+xml"),
            item("cov", "cover.jpg", "image/jpeg"),
            item("front", "front.html"),
            item("one", "chapter%20one.html"),
        ]
    )
    metadata = (
        '<dc:title>Old Book</dc:title><dc:creator opf:role="aut">Olga Old</dc:creator>'
        '<dc:language>en</dc:language><meta name="cover" content="cov"/>'
    )
    opf = opf3(manifest, spine("front", "one"), metadata=metadata, version="2.0", spine_attrs=' toc="ncx"')
    opf = opf.replace("</package>", '<guide><reference type="cover" href="cover.jpg" title="Cover"/></guide></package>')
    files: dict[str, str | bytes] = {
        "META-INF/container.xml": CONTAINER,
        "OEBPS/content.opf": opf,
        "OEBPS/toc.ncx": ncx,
        "OEBPS/cover.jpg": JPEG,
        "OEBPS/front.html": xhtml("<p>Copyright 1900 by Nobody.</p>"),
        "OEBPS/chapter one.html": xhtml(
            '<h2 id="one">CHAPTER ONE</h2><p>First words of the chapter.</p>'
            '<p id="scene">* * *</p><p>The scene goes on.</p>'
        ),
    }
    return write_zip(path, files)


def body_text(book: Book) -> str:
    return "\n".join(p for c in book.chapters if c.matter == "body" for p in c.paragraphs)


# -- tiny books ---------------------------------------------------------------------------------


def test_tiny_epub3_chapters_metadata_and_cover(tmp_path: Path) -> None:
    book = read_epub(tiny_epub3(tmp_path / "tiny.epub"))
    assert book.title == "The Main Title"
    assert book.authors == ("Ann Author",)
    assert book.language == "en"
    assert book.cover is not None and book.cover.media_type == "image/png" and book.cover.data == PNG
    listing = [(c.id, c.title, c.matter, c.depth) for c in book.chapters]
    assert listing == [
        ("c001", "Title Page", "front", 1),
        ("c002", "Part One", "body", 1),
        ("c003", "Chapter 1. The Beginning", "body", 2),
        ("c004", "Section 1.1", "body", 3),
        ("c005", "Chapter 2", "body", 2),
        ("c006", "Notes", "back", 1),
        ("c007", "Colophon", "back", 1),
    ]
    assert book.chapter("c003").href == "OEBPS/text/ch1.xhtml#c1"
    assert book.chapter("c002").paragraphs == ()
    assert any("'Lost'" in w and "not in the reading order" in w for w in book.warnings)
    assert any("no anchor #nowhere" in w for w in book.warnings)
    assert any("OEBPS/audio/gone.mp3" in w and "missing" in w for w in book.warnings)


def test_tiny_epub3_paragraph_text_rules(tmp_path: Path) -> None:
    book = read_epub(tiny_epub3(tmp_path / "tiny.epub"))
    chapter = book.chapter("c003")
    assert chapter.paragraphs == (
        "It was a dark night and a stormy one; the rain fell \u2014 hard.",
        "Roses are red,\nViolets are blue.",
        "山路を登る。",
        "A later subheading",
        "Direct text in a div.",
        "Nested paragraph.",
        "Before a break",
        "The end.",
    )
    assert book.chapter("c004").paragraphs == ("Inside the section.",)
    assert book.chapter("c005").paragraphs == ("Second chapter text.",)
    # the note body is dropped from the chapter but is the text of the notes chapter
    assert book.chapter("c006").paragraphs == ("1. The note itself.",)
    assert "footnote body" not in body_text(book)


def test_tiny_epub2_with_ncx_guide_cover_and_encoded_hrefs(tmp_path: Path) -> None:
    book = read_epub(tiny_epub2(tmp_path / "old.epub"))
    assert (book.title, book.authors, book.language) == ("Old Book", ("Olga Old",), "en")
    assert book.cover is not None and book.cover.media_type == "image/jpeg"
    assert [(c.title, c.matter, c.depth) for c in book.chapters] == [
        ("Copyright", "front", 1),
        ("Chapter One", "body", 1),
        ("A Scene", "body", 2),
    ]
    assert book.chapters[1].paragraphs == ("First words of the chapter.",)
    assert book.chapters[2].paragraphs == ("* * *", "The scene goes on.")
    assert book.chapters[1].href == "OEBPS/chapter one.html#one"


def test_without_a_toc_chapters_follow_headings_then_documents(tmp_path: Path) -> None:
    manifest = item("nav", "nav.xhtml", props="nav") + item("a", "a.xhtml") + item("b", "b.xhtml")
    files: dict[str, str | bytes] = {
        "META-INF/container.xml": CONTAINER,
        "OEBPS/content.opf": opf3(manifest, spine("a", "b")),
        "OEBPS/nav.xhtml": xhtml('<nav epub:type="toc"><ol></ol></nav>'),
        "OEBPS/a.xhtml": xhtml("<h1>Book</h1><h2>One</h2><p>First.</p><h2>Two</h2><p>Second.</p>"),
        "OEBPS/b.xhtml": xhtml("<h2>Three</h2><p>Third.</p>"),
    }
    book = read_epub(write_zip(tmp_path / "headings.epub", files))
    assert [(c.title, c.depth, c.paragraphs) for c in book.chapters] == [
        ("Book", 1, ()),
        ("One", 2, ("First.",)),
        ("Two", 2, ("Second.",)),
        ("Three", 2, ("Third.",)),
    ]
    assert any("chapters follow the headings" in w for w in book.warnings)
    files["OEBPS/a.xhtml"] = xhtml("<p>First.</p>", title="Opening")
    files["OEBPS/b.xhtml"] = xhtml("<p>Second.</p>", title="Closing")
    book = read_epub(write_zip(tmp_path / "plain.epub", files))
    assert [(c.id, c.title, c.paragraphs) for c in book.chapters] == [
        ("c001", "Opening", ("First.",)),
        ("c002", "Closing", ("Second.",)),
    ]


def test_two_toc_entries_at_the_same_place_warn(tmp_path: Path) -> None:
    nav = xhtml(
        '<nav epub:type="toc"><ol><li><a href="text/ch2.xhtml">Part</a></li>'
        '<li><a href="text/ch2.xhtml">Chapter 2</a></li></ol></nav>'
    )
    book = read_epub(tiny_epub3(tmp_path / "same.epub", **{"OEBPS/nav.xhtml": nav}))
    assert [(c.title, c.paragraphs, c.matter) for c in book.chapters][-3:] == [
        ("Part", (), "body"),
        ("Chapter 2", ("Second chapter text.",), "body"),
        # the colophon has no TOC entry, but is not read as part of chapter 2
        ("Colophon", ("Set in type.",), "back"),
    ]
    assert any("'Part' and 'Chapter 2' point to the same place" in w for w in book.warnings)


def test_project_gutenberg_header_inside_a_toc_chapter_and_licence_entry(tmp_path: Path) -> None:
    page = xhtml(
        '<section id="top"><p>The Project Gutenberg eBook of Tiny</p>'
        "<p>*** START OF THE PROJECT GUTENBERG EBOOK TINY ***</p>"
        "<h1>Tiny</h1><p>by Somebody</p></section>"
        '<section id="ch1"><h2>Chapter I</h2><p>Once upon a time.</p></section>'
        '<section id="footer"><p>*** END OF THE PROJECT GUTENBERG EBOOK TINY ***</p>'
        "<h2>THE FULL PROJECT GUTENBERG LICENSE</h2><p>Please read this.</p></section>"
    )
    nav = xhtml(
        '<nav epub:type="toc"><ol><li><a href="book.xhtml#top">Tiny</a></li>'
        '<li><a href="book.xhtml#ch1">Chapter I</a></li>'
        '<li><a href="book.xhtml#footer">THE FULL PROJECT GUTENBERG LICENSE</a></li></ol></nav>'
    )
    manifest = item("nav", "nav.xhtml", props="nav") + item("book", "book.xhtml")
    files: dict[str, str | bytes] = {
        "META-INF/container.xml": CONTAINER,
        "OEBPS/content.opf": opf3(manifest, spine("book")),
        "OEBPS/nav.xhtml": nav,
        "OEBPS/book.xhtml": page,
    }
    book = read_epub(write_zip(tmp_path / "pg.epub", files))
    assert [(c.title, c.matter, c.paragraphs) for c in book.chapters] == [
        ("Project Gutenberg header", "front",
         ("The Project Gutenberg eBook of Tiny", "*** START OF THE PROJECT GUTENBERG EBOOK TINY ***")),
        ("Tiny", "front", ("by Somebody",)),
        ("Chapter I", "body", ("Once upon a time.",)),
        ("THE FULL PROJECT GUTENBERG LICENSE", "back",
         ("*** END OF THE PROJECT GUTENBERG EBOOK TINY ***", "THE FULL PROJECT GUTENBERG LICENSE",
          "Please read this.")),
    ]


def test_reads_an_epub_written_by_ebooklib(tmp_path: Path) -> None:
    from ebooklib import epub

    made = epub.EpubBook()
    made.set_identifier("id-1")
    made.set_title("Made by ebooklib")
    made.set_language("de")
    made.add_author("Max Muster")
    made.set_cover("cover.jpg", JPEG)
    intro = epub.EpubHtml(title="Intro", file_name="intro.xhtml", lang="de")
    intro.content = "<h1>Intro</h1><p>Hallo Welt.</p>"
    second = epub.EpubHtml(title="Zweites Kapitel", file_name="two.xhtml", lang="de")
    second.content = "<h1>Zweites Kapitel</h1><p>Noch mehr &amp; Text.</p>"
    for chapter in (intro, second):
        made.add_item(chapter)
    made.toc = (epub.Link("intro.xhtml", "Intro", "intro"), (epub.Section("Teil"), (second,)))
    made.add_item(epub.EpubNcx())
    made.add_item(epub.EpubNav())
    made.spine = ["cover", "nav", intro, second]
    epub.write_epub(str(tmp_path / "made.epub"), made)
    book = read_epub(tmp_path / "made.epub")
    assert (book.title, book.authors, book.language, book.warnings) == ("Made by ebooklib", ("Max Muster",), "de", ())
    assert book.cover is not None and book.cover.data == JPEG
    assert [(c.title, c.depth, c.matter, c.paragraphs) for c in book.chapters] == [
        ("Intro", 1, "body", ("Hallo Welt.",)),
        ("Teil", 1, "body", ()),
        ("Zweites Kapitel", 2, "body", ("Noch mehr & Text.",)),
    ]


# -- hostile and malformed input ------------------------------------------------------------------


def error_of(path: Path, **kwargs: object) -> str:
    with pytest.raises(EpubError) as caught:
        read_epub(path, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message[len(f"{path}: ") :]


def test_entity_bomb_in_the_package_document(tmp_path: Path) -> None:
    package = '<package xmlns="http://www.idpf.org/2007/opf"><metadata>&lol3;</metadata></package>'
    bomb = f'<?xml version="1.0"?>{BOMB_DOCTYPE}{package}'
    path = tiny_epub3(tmp_path / "bomb.epub", **{"OEBPS/content.opf": bomb})
    assert error_of(path) == "OEBPS/content.opf: XML entity declarations are not allowed"


def test_entity_bomb_in_a_content_document(tmp_path: Path) -> None:
    page = xhtml("<p>&lol3;</p>", doctype=BOMB_DOCTYPE.replace("lolz", "html"))
    path = tiny_epub3(tmp_path / "bomb.epub", **{"OEBPS/text/ch2.xhtml": page})
    assert error_of(path) == "OEBPS/text/ch2.xhtml: XML entity declarations are not allowed"


def test_external_entity_is_refused(tmp_path: Path) -> None:
    page = xhtml("<p>&x;</p>", doctype='<!DOCTYPE html [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
    path = tiny_epub3(tmp_path / "xxe.epub", **{"OEBPS/text/ch2.xhtml": page})
    assert error_of(path) == "OEBPS/text/ch2.xhtml: XML entity declarations are not allowed"


def test_ordinary_xhtml_doctype_is_accepted_without_fetching_the_dtd(tmp_path: Path) -> None:
    page = xhtml("<p>caf&eacute;&nbsp;cr&egrave;me &amp; more</p>", doctype=XHTML11_DOCTYPE)
    book = read_epub(tiny_epub3(tmp_path / "ok.epub", **{"OEBPS/text/ch2.xhtml": page}))
    assert book.chapter("c005").paragraphs == ("café crème & more",)


def test_zip_bomb_by_declared_size(tmp_path: Path) -> None:
    big = "<p>" + "word " * (1 * MiB) + "</p>"
    path = tiny_epub3(tmp_path / "big.epub", **{"OEBPS/text/ch2.xhtml": xhtml(big)})
    message = error_of(path, limits=ZipLimits(max_member_bytes=2 * MiB))
    assert message == "zip member 'OEBPS/text/ch2.xhtml' expands beyond 2 MiB"


def test_zip_bomb_by_lying_header(tmp_path: Path) -> None:
    path = tiny_epub3(tmp_path / "liar.epub", **{"OEBPS/text/ch2.xhtml": xhtml("<p>" + "x" * (3 * MiB) + "</p>")})
    raw = bytearray(path.read_bytes())
    name = b"OEBPS/text/ch2.xhtml"
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = raw.find(signature)
        while at >= 0:
            if raw[at + name_at : at + name_at + len(name)] == name:
                struct.pack_into("<I", raw, at + size_at, 4096)
            at = raw.find(signature, at + 4)
    path.write_bytes(bytes(raw))
    assert error_of(path) == "zip member 'OEBPS/text/ch2.xhtml' expands beyond its declared size of 4096 bytes"


def test_member_path_that_escapes(tmp_path: Path) -> None:
    path = tiny_epub3(tmp_path / "escape.epub", **{"../../evil.xhtml": "<html/>"})
    assert error_of(path) == "zip member '../../evil.xhtml' escapes the archive (a '..' component)"
    assert not (tmp_path.parent / "evil.xhtml").exists()


def test_too_many_members(tmp_path: Path) -> None:
    extra = {f"OEBPS/junk/{i}.txt": b"" for i in range(200)}
    path = tiny_epub3(tmp_path / "many.epub", **extra)
    assert error_of(path, limits=ZipLimits(max_members=100)) == "has 210 zip members; the limit is 100"


def test_truncated_random_and_non_epub_archives(tmp_path: Path) -> None:
    good = tiny_epub3(tmp_path / "good.epub")
    truncated = tmp_path / "truncated.epub"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert error_of(truncated).startswith("not an EPUB: damaged or truncated ZIP archive")
    noise = tmp_path / "noise.epub"
    noise.write_bytes(os.urandom(50_000))
    assert error_of(noise) == "not an EPUB: not a ZIP archive"
    odt = write_zip(tmp_path / "doc.epub", {"content.xml": "<x/>"}, mimetype=False)
    assert error_of(odt) == "not an EPUB: no META-INF/container.xml"


@pytest.mark.parametrize(
    "files, message",
    [
        ({"OEBPS/content.opf": "<package><metadata>"}, "OEBPS/content.opf: not well-formed XML"),
        ({"OEBPS/content.opf": '<package xmlns="http://www.idpf.org/2007/opf"><metadata/><manifest/></package>'},
         "OEBPS/content.opf: the package document has no <spine>"),
        ({"META-INF/container.xml": "<container/>"}, "META-INF/container.xml names no package document"),
        ({"META-INF/container.xml": CONTAINER.replace("OEBPS/content.opf", "OEBPS/gone.opf")},
         "package document 'OEBPS/gone.opf' named in META-INF/container.xml is missing"),
    ],
)
def test_malformed_package_fails_with_one_clear_error(tmp_path: Path, files: dict[str, str], message: str) -> None:
    path = tiny_epub3(tmp_path / "bad.epub", **files)
    assert error_of(path).startswith(message)


def test_malformed_content_document_is_recovered_with_a_warning(tmp_path: Path) -> None:
    page = xhtml("<p>Unclosed <b>bold</p><p>Line<br>break &nbsp; here.<p>Tag soup.</body>")
    book = read_epub(tiny_epub3(tmp_path / "sloppy.epub", **{"OEBPS/text/ch2.xhtml": page}))
    assert book.chapter("c005").paragraphs[:3] == ("Unclosed bold", "Line\nbreak here.", "Tag soup.")
    assert any("OEBPS/text/ch2.xhtml: not well-formed XML" in w for w in book.warnings)


def test_html_entities_without_a_dtd_are_read_without_a_warning(tmp_path: Path) -> None:
    page = xhtml("<p>Caf&eacute;&nbsp;society &mdash; &unknownentity; &amp; co.</p>")  # HTML5 doctype
    book = read_epub(tiny_epub3(tmp_path / "entities.epub", **{"OEBPS/text/ch2.xhtml": page}))
    assert book.chapter("c005").paragraphs == ("Café society \u2014 & co.",)
    assert not any("well-formed" in w for w in book.warnings)


def test_character_references_to_surrogates_and_nul_become_replacement_characters(tmp_path: Path) -> None:
    # Found by tests/test_properties_epub.py: libxml2's recovery mode kept &#xD800; as the
    # surrogate's bytes, and lxml raised UnicodeDecodeError on reading the element's tag.
    page = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        '<html xmlns="http://www.&#xD800;w3.org/1999/xhtml"><head><title>t</title></head>'
        "<body><h1>Chapter 2</h1><p>Bad &#0;refs &#xDFFF;here<p>and unclosed</body></html>"
    )
    book = read_epub(tiny_epub3(tmp_path / "refs.epub", **{"OEBPS/text/ch2.xhtml": page}))
    assert book.chapter("c005").paragraphs == ("Bad \ufffdrefs \ufffdhere", "and unclosed")
    assert any("OEBPS/text/ch2.xhtml: not well-formed XML" in w for w in book.warnings)


def test_a_recovered_document_with_undecodable_text_fails_cleanly(tmp_path: Path) -> None:
    # UTF-16 is not rewritten before parsing; whatever libxml2 recovers must not leak a
    # UnicodeDecodeError.
    page = '<?xml version="1.0" encoding="utf-16"?><html xmlns="x&#xD800;"><body><p>t&#xD800;</body>'
    path = tiny_epub3(tmp_path / "utf16.epub", **{"OEBPS/text/ch2.xhtml": page.encode("utf-16")})
    try:
        book = read_epub(path)
    except EpubError as exc:
        assert "OEBPS/text/ch2.xhtml: not well-formed XML" in str(exc)
    else:
        assert all("\ud800" not in p for c in book.chapters for p in c.paragraphs)


def test_a_damaged_lzma_member_is_an_epub_error(tmp_path: Path) -> None:
    # Found by tests/test_properties_epub.py: lzma.LZMAError escaped SafeZip.read.
    path = tiny_epub3(tmp_path / "lzma.epub")
    with zipfile.ZipFile(path) as original:
        members = [(info, original.read(info)) for info in original.infolist()]
    with zipfile.ZipFile(path, "w") as rebuilt:
        for info, data in members:
            lzma_member = info.filename == "OEBPS/text/ch2.xhtml"
            rebuilt.writestr(info.filename, data, compress_type=zipfile.ZIP_LZMA if lzma_member else info.compress_type)
    raw = bytearray(path.read_bytes())
    name = b"OEBPS/text/ch2.xhtml"
    at = raw.find(name) + len(name)  # local header: the name, no extra field, then the data
    raw[at + 4 : at + 20] = b"\xff" * 16  # the LZMA properties and the start of the stream
    path.write_bytes(bytes(raw))
    with pytest.raises(EpubError, match=r"zip member 'OEBPS/text/ch2\.xhtml' is damaged"):
        read_epub(path)


# -- read_source ----------------------------------------------------------------------------------


def test_read_source_by_extension_and_by_sniffing(tmp_path: Path) -> None:
    assert SOURCE_READERS["epub"] is read_epub
    renamed = tmp_path / "book.bin"
    shutil.copy(SPACES, renamed)
    assert source_format(renamed) == "epub"
    assert read_source(renamed).chapters[0].paragraphs == ("I", "Page with spaces.")
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello")
    with pytest.raises(InputError) as caught:
        read_source(unknown)
    assert str(caught.value).startswith(f"{unknown}: unknown source format")
    with pytest.raises(InputError, match="no such file"):
        read_source(tmp_path / "absent.bin")


# -- real books (tests/data) ------------------------------------------------------------------------

ALICE_CHAPTERS = [
    "I—DOWN THE RABBIT-HOLE",
    "II—THE POOL OF TEARS",
    "III—A CAUCUS-RACE AND A LONG TALE",
    "IV—THE RABBIT SENDS IN A LITTLE BILL",
    "V—ADVICE FROM A CATERPILLAR",
    "VI—PIG AND PEPPER",
    "VII—A MAD TEA-PARTY",
    "VIII—THE QUEEN'S CROQUET GROUND",
    "IX—WHO STOLE THE TARTS?",
    "X—ALICE'S EVIDENCE",
]


@pytest.fixture(scope="module")
def alice() -> Book:
    return read_epub(ALICE)


def test_alice_body_is_exactly_the_ten_chapters(alice: Book) -> None:
    assert alice.title == "Alice's Adventures in Wonderland"
    assert alice.authors == ("Lewis Carroll",) and alice.language == "en"
    body = [c for c in alice.chapters if c.matter == "body"]
    assert [c.title for c in body] == ALICE_CHAPTERS
    assert all(c.depth == 2 for c in body)
    assert [c.id for c in alice.chapters] == [f"c{n:03d}" for n in range(1, len(alice.chapters) + 1)]
    assert body[0].paragraphs[0].startswith("Alice was beginning to get very tired of sitting by her sister")
    assert body[1].paragraphs[0].startswith('"Curiouser and curiouser!" cried Alice')
    assert body[-1].paragraphs[-1].endswith("what a wonderful dream it had been.")
    assert alice.cover is not None and alice.cover.media_type == "image/jpeg"


def test_alice_has_no_page_numbers_or_licence_in_the_body(alice: Book) -> None:
    text = body_text(alice)
    assert "[Pg" not in text and "Project Gutenberg" not in text and "gutenberg.org" not in text
    assert "I—DOWN THE RABBIT-HOLE" not in text  # chapter headings are spoken from the title
    assert '"Fury said to\na mouse, That\nhe met in the' in text  # the mouse's tale keeps its lines
    front, back = alice.chapters[0], alice.chapters[-1]
    assert (front.title, front.matter) == ("Project Gutenberg header", "front")
    assert any("START OF THIS PROJECT GUTENBERG EBOOK" in p for p in front.paragraphs)
    assert (back.title, back.matter) == ("Project Gutenberg License", "back")
    assert any("END OF THIS PROJECT GUTENBERG EBOOK" in p for p in back.paragraphs)
    assert sum(c.word_count for c in alice.chapters if c.matter == "back") > 2000
    assert all(c.matter == "front" for c in alice.chapters[: alice.chapters.index(front) + 5])


def test_wasteland_noterefs_line_numbers_and_notes(tmp_path: Path) -> None:
    book = read_epub(WASTELAND)
    assert [(c.title, c.matter) for c in book.chapters] == [
        ("The Waste Land", "front"),
        ("I. THE BURIAL OF THE DEAD", "body"),
        ("II. A GAME OF CHESS", "body"),
        ("III. THE FIRE SERMON", "body"),
        ("IV. DEATH BY WATER", "body"),
        ("V. WHAT THE THUNDER SAID", "body"),
        ('NOTES ON "THE WASTE LAND"', "back"),
    ]
    text = body_text(book)
    assert not re.search(r"[^\W\d_][\d*]|[,.;:!?'\"][\d*]", text), re.findall(r".{12}[^\W\d_][\d*].{3}", text)[:5]
    assert text.startswith("April is the cruellest month, breeding\nLilacs out of the dead land, mixing\n")
    assert "Cf. Ezekiel" not in text
    notes = book.chapters[-1].paragraphs
    assert "Line 20. Cf. Ezekiel 2:1." in notes
    assert len([p for p in notes if re.match(r"(Line )?\d+(-\d+)?\.", p)]) == 50  # all 50 rearnotes
    assert book.cover is not None and book.cover.media_type == "image/jpeg"


def test_kusamakura_reads_despite_missing_audio() -> None:
    book = read_epub(KUSAMAKURA)
    assert (book.title, book.authors, book.language) == ("草枕", ("夏目 漱石",), "ja")
    missing = [w for w in book.warnings if "missing from the archive" in w]
    assert len(missing) == 2 and any("fmse004b.mp3" in w for w in missing) and any("ulnr0036.mp3" in w for w in missing)
    body = [c for c in book.chapters if c.matter == "body"]
    assert [c.title for c in body] == "一 二 三 四 五 六 七 八 九 十 十一 十二 十三".split()
    assert body[0].paragraphs[0] == "山路を登りながら、こう考えた。"  # ruby readings left out
    assert body[0].href == "OPS/xhtml/一.xhtml"
    assert book.chapters[-1].matter == "back"


def test_palace_nested_toc_and_spaces_in_file_names() -> None:
    nested = read_epub(NESTED)
    assert [(c.title, c.depth, c.matter) for c in nested.chapters] == [
        ("Something", 1, "body"),
        ("Something Nested", 2, "body"),
        ("Something Else Nested", 2, "body"),
    ]
    assert nested.chapters[1].paragraphs == ("I", "Page 1.")  # the heading 'I' is not the title
    spaces = read_epub(SPACES)
    assert [(c.title, c.href, c.paragraphs) for c in spaces.chapters] == [
        ("Something.", "epub/text/page with spaces.xhtml", ("I", "Page with spaces."))
    ]


# -- the shared corpus (slow sweep) ------------------------------------------------------------------


@pytest.mark.slow
def test_every_corpus_epub_reads_or_fails_cleanly() -> None:
    if not CORPUS_EPUB.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS_EPUB}")
    books = sorted(CORPUS_EPUB.glob("*.epub"))
    assert len(books) >= 10
    for path in books:
        if path.name.startswith("BROKEN_"):
            with pytest.raises(EpubError, match=re.escape(f"{path}: not an EPUB")):
                read_epub(path)
            continue
        book = read_epub(path)
        assert book.title and book.language and book.chapters, path.name
        assert [c.id for c in book.chapters] == [f"c{n:03d}" for n in range(1, len(book.chapters) + 1)]
        body = [c for c in book.chapters if c.matter == "body"]
        assert body and sum(c.word_count for c in body) > 0, path.name
        for chapter in book.chapters:
            assert chapter.title == " ".join(chapter.title.split()) and chapter.title, path.name
            assert chapter.depth >= 1 and chapter.matter in ("front", "body", "back")
            for paragraph in chapter.paragraphs:
                assert paragraph and paragraph == paragraph.strip() and "  " not in paragraph, (path.name, paragraph)
        text = body_text(book)
        assert "[Pg " not in text and "*** END OF" not in text, path.name
    moby = read_epub(CORPUS_EPUB / "idpf_moby-dick_epub3.epub")
    assert len(moby.chapters) == 141
    assert [c.title for c in moby.chapters if c.matter == "body"][0] == "Chapter 1. Loomings."
    children = read_epub(CORPUS_EPUB / "idpf_childrens-literature_epub3.epub")
    assert children.title == "Children's Literature" and max(c.depth for c in children.chapters) == 4
    expectations = read_epub(CORPUS_EPUB / "se_great-expectations_epub3.epub")
    assert [c.matter for c in expectations.chapters] == ["front"] * 2 + ["body"] * 59 + ["back"] * 2
