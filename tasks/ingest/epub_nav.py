"""The book's own navigation: the table of contents (EPUB3 nav or EPUB2 NCX) and landmarks.

Read with lxml from the documents vetted by :mod:`tasks.ingest.epub_package` (ebooklib's TOC
parsers drop label-only entries, resolve hrefs against the wrong folder for NCX files and
fail on a nav without a ``toc``, so they are not used).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from tasks.ingest.epub_package import Package, resolve_href
from tasks.ingest.safexml import ParsedXml, local_name, text_content

__all__ = ["NavEntry", "Landmark", "read_nav_toc", "read_ncx_toc", "read_landmarks", "epub_types"]

OPS_NS = "http://www.idpf.org/2007/ops"
_EPUB_TYPE = f"{{{OPS_NS}}}type"


@dataclass(frozen=True)
class NavEntry:
    """One table-of-contents entry, flattened: its label, nesting depth and target."""

    title: str
    depth: int
    """1 for top-level entries."""
    target: tuple[str, str] | None
    """(archive path, fragment); None for a label with no link (a heading over its children)."""
    href: str = ""
    """The href as written in the TOC."""


@dataclass(frozen=True)
class Landmark:
    """An EPUB3 landmark or EPUB2 guide reference."""

    types: frozenset[str]
    path: str
    fragment: str
    label: str = ""
    from_guide: bool = False
    """An EPUB2 guide reference rather than an EPUB3 landmark."""


def collapse(text: str) -> str:
    return " ".join(text.split())


def epub_types(node: etree._Element) -> frozenset[str]:
    """The structural semantics of an element: ``epub:type`` tokens and ARIA ``doc-*`` roles.

    Vocabulary prefixes are dropped (``z3998:fiction`` -> ``fiction``), so are ``doc-``.
    """
    raw = (node.get(_EPUB_TYPE) or node.get("epub:type") or "").split()
    raw += [r[4:] for r in (node.get("role") or "").split() if r.startswith("doc-")]
    return frozenset(token.rsplit(":", 1)[-1].lower() for token in raw)


def _navs(root: etree._Element, kind: str) -> list[etree._Element]:
    return [n for n in root.iter() if local_name(n) == "nav" and kind in epub_types(n)]


def _first_list(node: etree._Element) -> etree._Element | None:
    for child in node.iter():
        if child is not node and local_name(child) in ("ol", "ul"):
            return child
    return None


def _label_of(li: etree._Element) -> tuple[etree._Element | None, etree._Element | None]:
    label = sub = None
    for child in li:
        name = local_name(child)
        if name in ("ol", "ul"):
            sub = sub if sub is not None else child
        elif name and label is None:
            label = child
    return label, sub


def _link_of(label: etree._Element | None) -> str:
    """The href of a label: the label itself when it is a link, else the first link inside it."""
    if label is None:
        return ""
    for node in label.iter():
        if local_name(node) == "a" and node.get("href"):
            return node.get("href", "")
    return ""


def _label_title(li: etree._Element, label: etree._Element | None) -> str:
    if label is None:
        return collapse(li.text or "")
    title = collapse(text_content(label))
    if not title:
        title = collapse(label.get("title") or "")
    if not title:
        for img in label.iter():
            if local_name(img) == "img" and img.get("alt"):
                return collapse(img.get("alt") or "")
    return title


def _target(base: str, href: str, warnings: list[str]) -> tuple[str, str] | None:
    if not href.strip():
        return None
    try:
        return resolve_href(base, href)
    except ValueError:
        warnings.append(f"{base}: TOC link {href!r} escapes the archive; ignored")
        return None


def _walk_list(node: etree._Element, depth: int, base: str, out: list[NavEntry], warnings: list[str]) -> None:
    for li in node:
        if local_name(li) != "li":
            continue
        label, sub = _label_of(li)
        href = _link_of(label)
        title = _label_title(li, label)
        if title or href:
            out.append(NavEntry(title, depth, _target(base, href, warnings), href))
        if sub is not None:
            _walk_list(sub, depth + 1 if (title or href) else depth, base, out, warnings)


def read_nav_toc(package: Package, parsed: dict[str, ParsedXml], warnings: list[str]) -> list[NavEntry]:
    """Entries of the EPUB3 nav document's ``toc`` nav, in order (empty when there is none)."""
    doc = parsed.get(package.nav_path or "")
    if doc is None or package.nav_path is None:
        return []
    navs = _navs(doc.root, "toc")
    if not navs:
        warnings.append(f"{package.nav_path}: the navigation document has no toc nav")
        return []
    top = _first_list(navs[0])
    out: list[NavEntry] = []
    if top is not None:
        _walk_list(top, 1, package.nav_path, out, warnings)
    return out


def _ncx_child(node: etree._Element, name: str) -> etree._Element | None:
    for child in node:
        if local_name(child) == name:
            return child
    return None


def _walk_navpoints(node: etree._Element, depth: int, base: str, out: list[NavEntry], warnings: list[str]) -> None:
    for point in node:
        if local_name(point) != "navpoint":
            continue
        label = _ncx_child(point, "navlabel")
        title = collapse(text_content(label)) if label is not None else ""
        content = _ncx_child(point, "content")
        href = content.get("src", "") if content is not None else ""
        out.append(NavEntry(title, depth, _target(base, href, warnings), href))
        _walk_navpoints(point, depth + 1, base, out, warnings)


def read_ncx_toc(package: Package, parsed: dict[str, ParsedXml], warnings: list[str]) -> list[NavEntry]:
    """Entries of the EPUB2 NCX navMap, in order (empty when there is none)."""
    doc = parsed.get(package.ncx_path or "")
    if doc is None or package.ncx_path is None:
        return []
    nav_map = next((n for n in doc.root.iter() if local_name(n) == "navmap"), None)
    out: list[NavEntry] = []
    if nav_map is not None:
        _walk_navpoints(nav_map, 1, package.ncx_path, out, warnings)
    return out


_GUIDE_TYPES = {"title-page": "titlepage", "text": "bodymatter", "copyright-page": "copyright-page"}


def read_landmarks(package: Package, parsed: dict[str, ParsedXml]) -> list[Landmark]:
    """EPUB3 landmarks and EPUB2 guide references, landmarks first."""
    out: list[Landmark] = []
    doc = parsed.get(package.nav_path or "")
    if doc is not None and package.nav_path is not None:
        for nav in _navs(doc.root, "landmarks"):
            for link in nav.iter():
                if local_name(link) != "a" or not link.get("href"):
                    continue
                ignored: list[str] = []
                target = _target(package.nav_path, link.get("href", ""), ignored)
                if target is not None:
                    out.append(Landmark(epub_types(link), target[0], target[1], collapse(text_content(link))))
    for types, path, fragment in package.guide:
        out.append(Landmark(frozenset(_GUIDE_TYPES.get(t, t) for t in types), path, fragment, from_guide=True))
    return out
