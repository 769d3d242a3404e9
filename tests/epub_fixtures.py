"""Small, valid EPUB 3 books written by the tests: a title, chapters of paragraphs."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""


def _xhtml(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="en">'
        f"<head><title>{escape(title)}</title></head><body>{body}</body></html>"
    )


NO_CREDITS = {"opening": False, "closing": False}
"""A manifest's ``credits`` for a test about something else: its chapters are the book's."""


def write_epub(
    path: Path,
    chapters: Sequence[tuple[str, Sequence[str]]],
    *,
    title: str = "A Small Book",
    author: str = "A. Writer",
    language: str = "en",
    cover: bytes | None = None,
    resources: Sequence[tuple[str, str, bytes]] = (),
    markup: bool = False,
) -> Path:
    """An EPUB 3 with a nav document: one XHTML file per chapter, an <h1> and <p>s each (and
    ``cover`` as its cover image, declared JPEG, when given; and each of ``resources``,
    ``(href, media type, bytes)``, as a manifest item). With ``markup``, the paragraphs are
    XHTML already (``<em>``, ``<br/>``...), not plain text."""
    items, spine, links = [], [], []
    if cover is not None:
        items.append('<item id="cover" href="cover.jpg" media-type="image/jpeg" properties="cover-image"/>')
    for n, (href, media_type, _data) in enumerate(resources, 1):
        items.append(f'<item id="res{n}" href="{escape(href)}" media-type="{escape(media_type)}"/>')
    files: dict[str, str] = {}
    for n, (chapter_title, paragraphs) in enumerate(chapters, 1):
        name = f"ch{n:02d}.xhtml"
        body = f"<section><h1>{escape(chapter_title)}</h1>" + "".join(f"<p>{p if markup else escape(p)}</p>" for p in paragraphs) + "</section>"
        files[name] = _xhtml(chapter_title, body)
        items.append(f'<item id="ch{n}" href="{name}" media-type="application/xhtml+xml"/>')
        spine.append(f'<itemref idref="ch{n}"/>')
        links.append(f'<li><a href="{name}">{escape(chapter_title)}</a></li>')
    files["nav.xhtml"] = _xhtml("Contents", f'<nav epub:type="toc"><h1>Contents</h1><ol>{"".join(links)}</ol></nav>')
    opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="uid">urn:uuid:12345678-1234-1234-1234-123456789abc</dc:identifier>
    <dc:title>{escape(title)}</dc:title><dc:creator>{escape(author)}</dc:creator><dc:language>{language}</dc:language>
    <meta property="dcterms:modified">2026-01-01T00:00:00Z</meta>
  </metadata>
  <manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>{"".join(items)}</manifest>
  <spine>{"".join(spine)}</spine>
</package>"""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", CONTAINER, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("OEBPS/content.opf", opf, compress_type=zipfile.ZIP_DEFLATED)
        for name, text in files.items():
            z.writestr(f"OEBPS/{name}", text, compress_type=zipfile.ZIP_DEFLATED)
        if cover is not None:
            z.writestr("OEBPS/cover.jpg", cover, compress_type=zipfile.ZIP_DEFLATED)
        for href, _media_type, data in resources:
            z.writestr(f"OEBPS/{href}", data, compress_type=zipfile.ZIP_DEFLATED)
    return path
