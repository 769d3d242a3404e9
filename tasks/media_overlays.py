"""EPUB 3 Media Overlays: the SMIL documents that pair a content document's text with clips of
audio, and what the package document must say about them.

Each content document with narration gets one SMIL document (EPUB 3.3, §9 Media Overlays): a
``par`` per highlighted stretch of text, in reading order, each with its ``text`` (the
document and a fragment id) and its ``audio`` clip (the file, ``clipBegin``, ``clipEnd``). The
package document lists the SMIL and audio files, names each content document's overlay in its
``media-overlay`` attribute, and gives each overlay's duration and their sum in
``media:duration`` metadata (the ``media:`` prefix is reserved: it needs no declaration).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from lxml import etree

from castline.model import Seconds

__all__ = ["Clip", "Overlay", "clock", "smil_document", "add_overlays", "SMIL_MEDIA_TYPE"]

SMIL_MEDIA_TYPE = "application/smil+xml"
SMIL_NS = "http://www.w3.org/ns/SMIL"
OPS_NS = "http://www.idpf.org/2007/ops"
OPF_NS = "http://www.idpf.org/2007/opf"


@dataclass(frozen=True)
class Clip:
    """A stretch of text (its element's id) and the audio that reads it."""

    text_id: str
    audio_path: str
    """Archive path of the audio file."""
    begin_s: Seconds
    end_s: Seconds


@dataclass(frozen=True)
class Overlay:
    """The media overlay of one content document."""

    document_id: str
    """Manifest id of the content document."""
    document_path: str
    smil_id: str
    smil_path: str
    clips: tuple[Clip, ...]

    @property
    def duration_s(self) -> Seconds:
        """What ``media:duration`` says: the clips' lengths added up (as :func:`clock` rounds them)."""
        return sum(round(c.end_s, 3) - round(c.begin_s, 3) for c in self.clips)


def clock(seconds: Seconds) -> str:
    """A SMIL full clock value to the millisecond: ``0:01:02.345``."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def href(from_path: str, to_path: str) -> str:
    """The relative URL from the file at archive path ``from_path`` to ``to_path``."""
    return quote(posixpath.relpath(to_path, posixpath.dirname(from_path) or "."))


def smil_document(overlay: Overlay) -> bytes:
    """The SMIL document of ``overlay``."""
    smil = etree.Element(f"{{{SMIL_NS}}}smil", nsmap={None: SMIL_NS, "epub": OPS_NS}, version="3.0")
    body = etree.SubElement(smil, f"{{{SMIL_NS}}}body")
    seq = etree.SubElement(body, f"{{{SMIL_NS}}}seq", id="seq1")
    seq.set(f"{{{OPS_NS}}}textref", href(overlay.smil_path, overlay.document_path))
    for n, clip in enumerate(overlay.clips, 1):
        par = etree.SubElement(seq, f"{{{SMIL_NS}}}par", id=f"par{n}")
        etree.SubElement(par, f"{{{SMIL_NS}}}text", src=f"{href(overlay.smil_path, overlay.document_path)}#{clip.text_id}")
        etree.SubElement(par, f"{{{SMIL_NS}}}audio", src=href(overlay.smil_path, clip.audio_path),
                         clipBegin=clock(clip.begin_s), clipEnd=clock(clip.end_s))
    return etree.tostring(smil, xml_declaration=True, encoding="utf-8", pretty_print=True)


def add_overlays(opf: etree._Element, opf_path: str, overlays: Sequence[Overlay], audio: Sequence[tuple[str, str]]) -> list[str]:
    """Declare ``overlays`` and the ``audio`` files (``(manifest id, archive path)``, MP3) in
    the package document ``opf`` (at ``opf_path``), and mark it modified now.

    Overlays the book had already are taken out (a content document may have one overlay
    only): returns the archive paths of their SMIL documents, to be left out of the book."""
    manifest = opf.find(f"{{{OPF_NS}}}manifest")
    metadata = opf.find(f"{{{OPF_NS}}}metadata")
    if manifest is None or metadata is None:
        raise ValueError(f"{opf_path}: the package document has no manifest or metadata")
    replaced = []
    for item in list(manifest.iter(f"{{{OPF_NS}}}item")):
        item.attrib.pop("media-overlay", None)
        if item.get("media-type") == SMIL_MEDIA_TYPE:
            replaced.append(posixpath.normpath(posixpath.join(posixpath.dirname(opf_path), unquote(item.get("href") or ""))))
            manifest.remove(item)
    items = {item.get("id"): item for item in manifest.iter(f"{{{OPF_NS}}}item")}
    for item_id, path in audio:
        etree.SubElement(manifest, f"{{{OPF_NS}}}item", id=item_id, href=href(opf_path, path), attrib={"media-type": "audio/mpeg"})
    for overlay in overlays:
        etree.SubElement(manifest, f"{{{OPF_NS}}}item", id=overlay.smil_id, href=href(opf_path, overlay.smil_path),
                         attrib={"media-type": SMIL_MEDIA_TYPE})
        items[overlay.document_id].set("media-overlay", overlay.smil_id)
    for meta in metadata.findall(f"{{{OPF_NS}}}meta"):
        if (meta.get("property") or "").startswith("media:"):
            metadata.remove(meta)
    for overlay in overlays:
        meta = etree.SubElement(metadata, f"{{{OPF_NS}}}meta", property="media:duration", refines=f"#{overlay.smil_id}")
        meta.text = clock(overlay.duration_s)
    total = etree.SubElement(metadata, f"{{{OPF_NS}}}meta", property="media:duration")
    total.text = clock(sum(round(o.duration_s, 3) for o in overlays))
    modified = next((m for m in metadata.findall(f"{{{OPF_NS}}}meta") if m.get("property") == "dcterms:modified"), None)
    if modified is None:
        modified = etree.SubElement(metadata, f"{{{OPF_NS}}}meta", property="dcterms:modified")
    modified.text = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return replaced
