"""The EPUB package: container, OPF metadata, manifest, spine, guide and cover.

ebooklib parses the container and the package document, but every byte it sees comes through
:class:`GuardedReader.read_file`, which reads from a :class:`~tasks.ingest.safezip.SafeZip`
(size limits, no escaping names, nothing extracted), vets every XML document with
:func:`~tasks.ingest.safexml.parse_xml` before ebooklib parses it, and turns a manifest entry
whose file is missing into a warning instead of ebooklib's KeyError. ebooklib's own TOC parsers
are switched off: the table of contents is read by :mod:`tasks.ingest.epub_nav`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ebooklib import epub as ebooklib_epub
from lxml import etree

from castline.errors import EpubError
from castline.model import Cover, image_media_type
from tasks.ingest.safexml import ParsedXml, XmlProblem, local_name, parse_xml, text_content
from tasks.ingest.safezip import SafeZip

__all__ = [
    "ManifestItem",
    "Package",
    "GuardedReader",
    "load_package",
    "resolve_href",
    "cover_candidates",
    "read_cover",
    "read_lexicons",
    "DOCUMENT_TYPES",
    "PLS_MEDIA_TYPE",
]

CONTAINER_PATH = "META-INF/container.xml"
EPUB_MIMETYPE = "application/epub+zip"
DOCUMENT_TYPES = frozenset({"application/xhtml+xml", "text/html", "application/x-dtbook+xml"})
PLS_MEDIA_TYPE = "application/pls+xml"
"""Media type of a W3C pronunciation lexicon in the manifest (EPUB 3 section 3.5)."""
_XML_SUFFIXES = (".xml", ".opf", ".ncx", ".xhtml", ".xht", ".html", ".htm")
_HTML_SUFFIXES = (".html", ".htm")

# ebooklib's reader raises these (and its own EpubException) on a package it cannot make sense of.
_EBOOKLIB_FAILURES = (AttributeError, TypeError, IndexError, KeyError, ValueError, etree.LxmlError)


@dataclass(frozen=True)
class ManifestItem:
    """One manifest entry, with its path inside the archive."""

    id: str
    path: str
    """Archive path (the OPF href resolved against the OPF's folder, percent-decoded)."""
    media_type: str
    properties: frozenset[str] = frozenset()


@dataclass
class Package:
    """What the package document says about the book."""

    opf_path: str
    title: str
    authors: tuple[str, ...]
    language: str | None
    items: dict[str, ManifestItem]
    """By manifest id."""
    spine: list[tuple[ManifestItem, bool]]
    """Spine documents in reading order, with their ``linear`` flag."""
    guide: list[tuple[frozenset[str], str, str]]
    """EPUB2 guide references: (types, archive path, fragment)."""
    nav_path: str | None = None
    ncx_path: str | None = None
    cover_ids: tuple[str, ...] = ()
    """Manifest ids the metadata names as the cover (EPUB2 ``meta name="cover"``)."""
    version: str = ""
    """The package's ``version`` attribute: ``3.0``, ``2.0``..."""
    warnings: list[str] = field(default_factory=list)

    def item_at(self, path: str) -> ManifestItem | None:
        for item in self.items.values():
            if item.path == path:
                return item
        return None


def resolve_href(base_path: str, href: str) -> tuple[str, str] | None:
    """(archive path, fragment) an href found in ``base_path`` points to.

    Returns None for links outside the book (``http:``, ``mailto:``...). Raises ValueError when
    the path climbs above the archive root. A bare ``#fragment`` points into ``base_path``.
    """
    parts = urlsplit(href.strip())
    if parts.scheme or parts.netloc:
        return None
    fragment = unquote(parts.fragment)
    if not parts.path:
        return base_path, fragment
    joined = posixpath.join(posixpath.dirname(base_path), unquote(parts.path))
    normal = posixpath.normpath(joined)
    if normal == ".." or normal.startswith(("../", "/")):
        raise ValueError(href)
    return normal, fragment


def _is_xml_name(name: str) -> bool:
    return name.lower().endswith(_XML_SUFFIXES)


class GuardedReader(ebooklib_epub.EpubReader):
    """ebooklib's reader, reading only through a SafeZip and only vetted XML."""

    def __init__(self, archive: SafeZip) -> None:
        super().__init__(str(archive.path), {"ignore_ncx": True})
        self.archive = archive
        self.parsed: dict[str, ParsedXml] = {}
        self.warnings: list[str] = []

    def _fail(self, problem: str) -> EpubError:
        return EpubError(self.archive.path, problem)

    def _load(self) -> None:
        # The archive is already open and vetted; ebooklib must not open the file itself.
        self._load_container()
        self._load_opf_file()

    def _parse_ncx(self, data: bytes) -> None:
        """Switched off: castline reads the NCX itself (see tasks.ingest.epub_nav)."""

    def _parse_nav(self, data: bytes, base_path: str, navtype: str = "toc") -> None:
        """Switched off: castline reads the nav document itself (see tasks.ingest.epub_nav)."""

    def read_file(self, name: str) -> bytes:
        """A member's bytes for ebooklib: vetted XML, b'' for media we never look at or that is missing."""
        key = self.archive.find(name) or self.archive.find(unquote(name))
        if key is None:
            if name == CONTAINER_PATH:
                raise self._fail(f"not an EPUB: no {CONTAINER_PATH}")
            if name == self.opf_file:
                raise self._fail(f"package document {name!r} named in {CONTAINER_PATH} is missing")
            self.warnings.append(f"{name}: listed in the manifest but missing from the archive")
            return b""
        if not _is_xml_name(key):
            return b""  # images, fonts, audio, CSS: read on demand (the cover) or never
        data = self.archive.read(key)
        self.parsed[key] = self._vet(key, data)
        return data

    def _vet(self, key: str, data: bytes) -> ParsedXml:
        required = key in (CONTAINER_PATH, posixpath.normpath(self.opf_file or "-"))
        try:
            parsed = parse_xml(data, strict=required, html_fallback=key.lower().endswith(_HTML_SUFFIXES))
        except XmlProblem as exc:
            raise self._fail(f"{key}: {exc}") from None
        if parsed.recovered:
            self.warnings.append(f"{key}: not well-formed XML ({parsed.problem}); read what could be recovered")
        if key == CONTAINER_PATH:
            self._check_container(parsed.root)
        elif required:
            self._check_package(key, parsed.root)
        return parsed

    def _check_container(self, root: etree._Element) -> None:
        for node in root.iter():
            media_type = node.get("media-type", "application/oebps-package+xml")
            if local_name(node) == "rootfile" and node.get("full-path") and media_type == "application/oebps-package+xml":
                return
        raise self._fail(f"{CONTAINER_PATH} names no package document")

    def _check_package(self, key: str, root: etree._Element) -> None:
        if local_name(root) != "package":
            raise self._fail(f"{key}: not a package document (root element <{local_name(root)}>)")
        present = {local_name(child): child for child in root}
        for part in ("metadata", "manifest", "spine"):
            if part not in present:
                raise self._fail(f"{key}: the package document has no <{part}>")
        for number, entry in enumerate(present["manifest"], 1):
            if local_name(entry) == "item" and not (entry.get("id") and entry.get("href")):
                raise self._fail(f"{key}: manifest item {number} has no id or no href")


def _check_mimetype(archive: SafeZip, warnings: list[str]) -> None:
    if "mimetype" not in archive:
        warnings.append("no 'mimetype' member; reading it as an EPUB anyway")
        return
    if archive.declared_size("mimetype") > 1024:
        raise EpubError(archive.path, "not an EPUB: the 'mimetype' member is too large")
    kind = archive.read("mimetype").decode("ascii", "replace").strip()
    if kind != EPUB_MIMETYPE:
        raise EpubError(archive.path, f"not an EPUB: mimetype is {kind[:60]!r}, not {EPUB_MIMETYPE!r}")


def load_package(archive: SafeZip) -> tuple[Package, dict[str, ParsedXml]]:
    """Read the container and package document; returns the package and the vetted XML trees."""
    warnings: list[str] = []
    _check_mimetype(archive, warnings)
    if CONTAINER_PATH not in archive:
        raise EpubError(archive.path, f"not an EPUB: no {CONTAINER_PATH}")
    reader = GuardedReader(archive)
    try:
        book = reader.load()
    except EpubError:
        raise
    except (ebooklib_epub.EpubException, *_EBOOKLIB_FAILURES) as exc:
        raise EpubError(archive.path, f"malformed package document: {type(exc).__name__}: {exc}") from None
    opf_path = posixpath.normpath(reader.opf_file)
    package = _package_from(book, opf_path, archive)
    package.warnings[:0] = warnings + reader.warnings
    return package, reader.parsed


def _package_from(book: ebooklib_epub.EpubBook, opf_path: str, archive: SafeZip) -> Package:
    items: dict[str, ManifestItem] = {}
    nav_path = ncx_path = None
    warnings: list[str] = []
    for raw in book.get_items():
        if urlsplit(raw.file_name).scheme:
            continue  # a remote resource: nothing to read
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(opf_path), raw.file_name))
        if joined == ".." or joined.startswith(("../", "/")):
            raise EpubError(archive.path, f"{opf_path}: manifest item {raw.file_name!r} escapes the archive")
        path = archive.find(joined) or joined
        props = set(getattr(raw, "properties", None) or ())
        if isinstance(raw, ebooklib_epub.EpubCover):
            props.add("cover-image")
        if isinstance(raw, ebooklib_epub.EpubNav):
            props.add("nav")
            nav_path = path
        if isinstance(raw, ebooklib_epub.EpubNcx):
            ncx_path = ncx_path or path
        media = "application/xhtml+xml" if isinstance(raw, ebooklib_epub.EpubNav) else (raw.media_type or "")
        items[str(raw.id)] = ManifestItem(str(raw.id), path, media.lower(), frozenset(props))
    spine: list[tuple[ManifestItem, bool]] = []
    for idref, linear in book.spine:
        item = items.get(str(idref))
        if item is None:
            warnings.append(f"{opf_path}: spine item {idref!r} is not in the manifest")
        elif item.media_type in DOCUMENT_TYPES:
            spine.append((item, str(linear).lower() != "no"))
        else:
            warnings.append(f"{item.path}: spine item of type {item.media_type!r} has no text; skipped")
    meta = _metadata(book)
    return Package(
        opf_path=opf_path,
        title=meta.title or archive.path.stem,
        authors=tuple(meta.authors),
        language=meta.language,
        items=items,
        spine=spine,
        guide=_guide(book, opf_path),
        nav_path=nav_path,
        ncx_path=ncx_path,
        cover_ids=tuple(meta.cover_ids),
        version=str(book.version or ""),
        warnings=warnings + ([] if meta.title else ["the package document has no dc:title"]),
    )


def _collapse(text: str | None) -> str:
    return " ".join((text or "").split())


def _get(book: ebooklib_epub.EpubBook, ns: str, name: str) -> list[tuple[str | None, dict[str, str]]]:
    try:
        return list(book.get_metadata(ns, name))
    except KeyError:
        return []


@dataclass(frozen=True)
class _Metadata:
    title: str
    authors: list[str]
    language: str | None
    cover_ids: list[str]


def _metadata(book: ebooklib_epub.EpubBook) -> _Metadata:
    """Main title, authors, primary language tag and cover ids from the OPF metadata."""
    refinements: dict[tuple[str, str], list[str]] = {}
    cover_ids: list[str] = []
    for value, attrs in _get(book, "OPF", "meta"):
        if attrs.get("name") == "cover" and attrs.get("content"):
            cover_ids.append(attrs["content"].strip())
        refined = (attrs.get("refines") or "").lstrip("#")
        if refined and attrs.get("property"):
            refinements.setdefault((refined, attrs["property"]), []).append(_collapse(value))
    titles = [(_collapse(v), a.get("id", "")) for v, a in _get(book, "DC", "title") if _collapse(v)]
    main = [t for t, tid in titles if "main" in refinements.get((tid, "title-type"), [])]
    title = (main or [t for t, _ in titles] or [""])[0]
    authors: list[str] = []
    others: list[str] = []
    for value, attrs in _get(book, "DC", "creator"):
        name = _collapse(value)
        roles = refinements.get((attrs.get("id", ""), "role"), []) + [
            v for k, v in attrs.items() if k.endswith("}role") or k == "role"
        ]
        target = authors if (not roles or "aut" in roles) else others
        if name and name not in target:
            target.append(name)
    language = None
    for value, _attrs in _get(book, "DC", "language"):
        tag = _collapse(value).replace("_", "-").split("-")[0].lower()
        if tag:
            language = tag
            break
    return _Metadata(title, authors or others, language, cover_ids)


def _guide(book: ebooklib_epub.EpubBook, opf_path: str) -> list[tuple[frozenset[str], str, str]]:
    out = []
    for ref in getattr(book, "guide", None) or []:
        try:
            target = resolve_href(opf_path, ref.get("href") or "")
        except ValueError:
            continue
        if target:
            out.append((frozenset((ref.get("type") or "").lower().split()), target[0], target[1]))
    return out


# -- cover ----------------------------------------------------------------------------------


_COVER_PAGE_MAX_CHARS = 40
"""A cover page with more text than this is a title card, not a picture: its images are not the cover."""


def _first_image_in(path: str, parsed: dict[str, ParsedXml]) -> str | None:
    """The first image of a cover page that is mostly a picture (None for a page full of text)."""
    doc = parsed.get(path)
    if doc is None:
        return None
    body = next((n for n in doc.root.iter() if local_name(n) == "body"), doc.root)
    if len("".join(text_content(body).split())) > _COVER_PAGE_MAX_CHARS:
        return None
    for node in doc.root.iter():
        name = local_name(node)
        href = None
        if name == "img":
            href = node.get("src")
        elif name == "image":
            href = node.get("{http://www.w3.org/1999/xlink}href") or node.get("href")
        if href:
            try:
                target = resolve_href(path, href)
            except ValueError:
                return None
            return target[0] if target else None
    return None


def cover_candidates(package: Package, parsed: dict[str, ParsedXml], landmark_covers: list[str]) -> list[str]:
    """Archive paths that may hold the cover image, best first."""
    out = [item.path for item in package.items.values() if "cover-image" in item.properties]
    for cover_id in package.cover_ids:
        item = package.items.get(cover_id) or package.item_at(cover_id)
        if item is not None:
            out.append(item.path)
    pages = [path for types, path, _frag in package.guide if "cover" in types] + landmark_covers
    for page in pages:
        item = package.item_at(page)
        if item is not None and item.media_type in DOCUMENT_TYPES:
            image = _first_image_in(page, parsed)
            if image:
                out.append(image)
        else:
            out.append(page)
    return list(dict.fromkeys(out))


def read_cover(archive: SafeZip, package: Package, candidates: list[str]) -> Cover | None:
    """The first candidate that is a JPEG or PNG image (sniffed from its bytes)."""
    for path in candidates:
        item = package.item_at(path)
        if item is not None and not item.media_type.startswith("image/"):
            continue
        if archive.find(path) is None:
            continue
        data = archive.read(path)
        media = image_media_type(data)
        if media is not None:
            return Cover(data=data, media_type=media)
        package.warnings.append(f"{path}: cover image is not JPEG or PNG; no cover taken")
        return None
    return None


# -- pronunciation lexicons ---------------------------------------------------------------


def read_lexicons(archive: SafeZip, package: Package, max_bytes: int) -> tuple[tuple[str, bytes], ...]:
    """The book's pronunciation lexicons: (archive path, bytes) of each manifest item of type
    ``application/pls+xml``, in manifest order, unparsed.

    Read through the archive's limits like every other member; one larger than ``max_bytes``
    (the lexicon reader's own limit) is left out unread, with a warning; a missing one was
    warned about when the manifest was read.
    """
    found: list[tuple[str, bytes]] = []
    for item in package.items.values():
        if item.media_type != PLS_MEDIA_TYPE:
            continue
        key = archive.find(item.path)
        if key is None:
            continue
        if archive.declared_size(key) > max_bytes:
            package.warnings.append(f"{item.path}: pronunciation lexicon larger than {max_bytes} bytes; not used")
            continue
        found.append((key, archive.read(key)))
    return tuple(found)
