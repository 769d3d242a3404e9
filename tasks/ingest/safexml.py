"""Parsing untrusted XML: no entity expansion, no DTD loading, no network.

lxml is asked never to resolve entities, never to load a DTD and never to touch the network,
and a document whose DOCTYPE declares entities (the billion-laughs and external-entity attacks)
is refused outright. An ordinary XHTML DOCTYPE (a public identifier and a URL, no internal
declarations) is accepted, and its DTD is not fetched: HTML entity references such as
``&nbsp;`` stay in the tree as entity nodes, which :func:`entity_text` turns into characters.
"""

from __future__ import annotations

import html.entities
import re
from dataclasses import dataclass

from lxml import etree
from lxml import html as lxml_html

__all__ = ["XmlProblem", "ParsedXml", "parse_xml", "entity_text", "local_name", "text_content"]


class XmlProblem(Exception):
    """A document is hostile or not well-formed; the message says which (one line)."""


@dataclass(frozen=True)
class ParsedXml:
    """A parsed document and whether it needed libxml2's recovery mode to parse."""

    root: etree._Element
    recovered: bool = False
    problem: str = ""
    """What was wrong when :attr:`recovered` is true."""


def _parser(recover: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=recover,
        remove_comments=True,
        remove_pis=True,
    )


def _first_line(message: object) -> str:
    text = str(message).strip().splitlines()
    return text[0] if text else "unknown XML error"


def _refuse_entity_declarations(root: etree._Element) -> None:
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and next(iter(dtd.iterentities()), None) is not None:
        raise XmlProblem("XML entity declarations are not allowed")


_NAMED_ENTITY_RE = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_XML_PREDEFINED = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
_CHAR_REF_RE = re.compile(rb"&#(?:[xX]([0-9A-Fa-f]{1,16})|([0-9]{1,20}));")


def _is_xml_char(code: int) -> bool:
    """Whether XML 1.0 allows this character (a character reference to any other is an error)."""
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _numeric_entities(data: bytes) -> bytes:
    """Replace HTML named entity references (``&nbsp;``) by character references (``&#160;``).

    XHTML files often use HTML entities without declaring them; libxml2's recovery mode then
    also drops ``&amp;`` and ``&lt;``, so they are rewritten before parsing instead. Only
    ASCII-compatible encodings are rewritten; a name HTML does not know stands for nothing.
    """

    def numeric(match: re.Match[bytes]) -> bytes:
        name = match.group(1)
        if name in _XML_PREDEFINED:
            return match.group(0)
        chars = html.entities.html5.get(name.decode("ascii") + ";", "")
        return b"".join(b"&#%d;" % ord(ch) for ch in chars)

    def valid_char(match: re.Match[bytes]) -> bytes:
        code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
        return match.group(0) if _is_xml_char(code) else b"&#xFFFD;"

    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:200]:
        return data  # UTF-16/32: leave it to the parser
    return _CHAR_REF_RE.sub(valid_char, _NAMED_ENTITY_RE.sub(numeric, data))


def _parse_html(data: bytes) -> etree._Element | None:
    parser = lxml_html.HTMLParser(recover=True, no_network=True, remove_comments=True, remove_pis=True)
    try:
        return lxml_html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError):
        return None


def _strict(data: bytes) -> etree._Element:
    root = etree.fromstring(data, _parser(recover=False))
    _refuse_entity_declarations(root)
    return root


def _check_unicode(root: etree._Element) -> None:
    """Raise XmlProblem when some name, text or attribute in the tree is not valid UTF-8.

    libxml2's recovery modes can keep bytes that are not UTF-8 (or encoded surrogates); lxml
    then raises UnicodeDecodeError the first time anyone reads that element's tag or text.
    """
    try:
        for node in root.iter():
            node.tag, node.text, node.tail  # noqa: B018 - read to decode
            if isinstance(node.tag, str):
                node.items()
    except UnicodeDecodeError as exc:
        raise XmlProblem(f"not well-formed XML: text that is not valid UTF-8 ({exc.reason})") from None


def parse_xml(data: bytes, *, strict: bool, html_fallback: bool = False) -> ParsedXml:
    """Parse one document safely.

    Undeclared HTML entities (``&nbsp;`` with no DTD) are turned into characters first. Then,
    with ``strict``, a document that is not well-formed raises :class:`XmlProblem`; without it,
    libxml2's recovery mode is used (or, with ``html_fallback``, the HTML parser, for files
    meant to be HTML) and the result says so. A DOCTYPE that declares entities always raises.
    """
    if not data.strip():
        raise XmlProblem("empty document")
    try:
        return _checked(ParsedXml(_strict(data)))
    except etree.XMLSyntaxError as exc:
        problem = _first_line(exc)
    rewritten = _numeric_entities(data)
    if rewritten != data:
        try:
            return _checked(ParsedXml(_strict(rewritten)))
        except etree.XMLSyntaxError as exc:
            problem = _first_line(exc)
    if strict:
        raise XmlProblem(f"not well-formed XML: {problem}")
    try:
        root = etree.fromstring(rewritten, _parser(recover=True))
    except etree.XMLSyntaxError:
        root = None
    if root is not None:
        _refuse_entity_declarations(root)
    if html_fallback:
        root = _parse_html(rewritten) or root
    if root is None:
        raise XmlProblem(f"not well-formed XML: {problem}")
    return _checked(ParsedXml(root, recovered=True, problem=problem))


def _checked(parsed: ParsedXml) -> ParsedXml:
    _check_unicode(parsed.root)
    return parsed


def entity_text(node: etree._Entity) -> str:
    """The character(s) an undeclared entity reference such as ``&nbsp;`` stands for ('' if unknown)."""
    return html.entities.html5.get(f"{node.name};", "")


def local_name(node: etree._Element) -> str:
    """The tag without its namespace, lower-cased ('' for comments, entities and PIs)."""
    tag = node.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


_UNSPOKEN_TAGS = frozenset({"rt", "rp", "script", "style"})


def text_content(node: etree._Element) -> str:
    """All text inside ``node`` (entity references decoded, ruby readings and scripts left out)."""
    pieces: list[str] = []

    def visit(el: etree._Element) -> None:
        if el.text:
            pieces.append(el.text)
        for child in el:
            if isinstance(child, etree._Entity):
                pieces.append(entity_text(child))
            elif local_name(child) and local_name(child) not in _UNSPOKEN_TAGS:
                visit(child)
            if child.tail:
                pieces.append(child.tail)

    visit(node)
    return "".join(pieces)
