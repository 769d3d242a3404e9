"""The cast sheet: the script's speakers as a CSV a producer corrects, and a render honours.

``castline cast MANIFEST`` writes it: one row per utterance, ``id, chapter, text, speaker,
attributed_by`` (how the speaker was found: :mod:`tasks.attribution`'s rules, ``narration``,
or ``sheet`` for a correction the sheet made). A producer changes ``speaker`` where the sieve
was wrong; every render applies the sheet (:func:`apply_cast_sheet`), so a corrected row
changes that utterance's voice, and so its take, and nothing else.

The book may change after the sheet was written. A row is matched to its utterance by id
(chapter, position and a hash of the text); failing that, by chapter and text hash when one
utterance of the chapter has that text (it moved, unchanged). A row that matches nothing, or
names a speaker the book and the manifest do not know, is left out with a message giving
its line; the other rows still apply.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from castline.errors import InputError
from castline.model import Utterance
from castline.tempfiles import atomic_path

__all__ = ["SHEET_COLUMNS", "SheetRow", "write_cast_sheet", "read_cast_sheet", "apply_cast_sheet", "MAX_SHEET_BYTES"]

SHEET_COLUMNS = ("id", "chapter", "text", "speaker", "attributed_by")
MAX_SHEET_BYTES = 64 * 1024 * 1024
"""A sheet larger than this is refused (a 20-hour book's sheet is about 15 MB)."""
SHEET_RULE = "sheet"


@dataclass(frozen=True)
class SheetRow:
    """A row of the sheet that names an utterance and its speaker."""

    line: int
    id: str
    chapter: str
    speaker: str


def write_cast_sheet(script: Iterable[Utterance], path: Path) -> None:
    """The script's speakers as a cast sheet at ``path`` (written to a temporary file, then renamed)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SHEET_COLUMNS)
        for u in script:
            writer.writerow((u.id, u.chapter, u.text, u.speaker, u.attributed_by))


def read_cast_sheet(path: Path) -> list[SheetRow]:
    """The rows of the sheet at ``path``; :class:`InputError` when it is not a cast sheet."""
    try:
        size = path.stat().st_size
        if size > MAX_SHEET_BYTES:
            raise InputError(path, f"{size} bytes: more than the {MAX_SHEET_BYTES // 2**20} MiB a cast sheet may have")
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("id", "speaker") if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(path, f"line 1: no {' or '.join(repr(c) for c in missing)} column (a cast sheet has {', '.join(SHEET_COLUMNS)})")
    rows = []
    try:
        for record in reader:
            line = reader.line_num
            if None in record:
                raise InputError(path, f"line {line}: more fields than the header has")
            rows.append(SheetRow(line, (record.get("id") or "").strip(), (record.get("chapter") or "").strip(),
                                 (record.get("speaker") or "").strip()))
    except csv.Error as exc:
        raise InputError(path, f"line {reader.line_num}: {exc}") from None
    return rows


def _text_hash(utterance_id: str) -> str:
    return utterance_id.rsplit("-", 1)[-1]


def apply_cast_sheet(
    script: Sequence[Utterance], rows: Sequence[SheetRow], speakers: dict[str, str], sheet: str
) -> tuple[list[Utterance], list[str]]:
    """``script`` with the speakers the sheet corrects (``attributed_by`` ``sheet``), and a
    message for each row left out. ``speakers``: every name a row may give -> the speaker it
    means (characters, their aliases, the speakers found, the narrator); ``sheet``: its name for messages."""
    by_id = {u.id: n for n, u in enumerate(script)}
    by_text: dict[tuple[str, str], list[int]] = defaultdict(list)
    for n, u in enumerate(script):
        by_text[(u.chapter, _text_hash(u.id))].append(n)
    out = list(script)
    notes: list[str] = []
    for row in rows:
        moved = by_text.get((row.chapter or row.id.split("-", 1)[0], _text_hash(row.id)), [])
        at = by_id.get(row.id, moved[0] if len(moved) == 1 else None)
        if at is None:
            notes.append(f"{sheet} line {row.line}: no utterance {row.id} in the book now (it changed?): row left out")
            continue
        speaker = speakers.get(row.speaker) or speakers.get(row.speaker.casefold())
        if speaker is None:
            known = ", ".join(sorted(set(speakers.values())))
            notes.append(f"{sheet} line {row.line}: unknown speaker {row.speaker!r} (known: {known}): row left out")
            continue
        if speaker != out[at].speaker:
            out[at] = replace(out[at], speaker=speaker, attributed_by=SHEET_RULE)
    return out, notes
