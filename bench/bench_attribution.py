"""Dialogue attribution: the accuracy of each rule of the sieve, and its cost against writing the script.

    python bench/bench_attribution.py [--book ../shared/corpus/epub/se_great-expectations_epub3.epub]

For each hand-annotated chapter of tests/data/attribution (great_expectations_ch02 is held
out: the sieve was not written against it), prints how many quotations each rule attributed
and how many of those it got right. Then, for a whole book, the time the sieve takes beside
the time writing the narrator-only script takes, measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from hardware import describe

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--book", type=Path, default=ROOT.parent / "shared/corpus/epub/se_great-expectations_epub3.epub")
    args = parser.parse_args()
    print(describe(("castline",)))
    from tasks.attribution import Character, rule_accuracy

    totals: dict[str, list[int]] = {}
    print(f"\n{'chapter':34} {'rule':10} {'right':>6} {'of':>4} {'accuracy':>9}")
    for fixture in sorted((ROOT / "tests/data/attribution").glob("*.json")):
        data = json.loads(fixture.read_text(encoding="utf-8"))
        characters = {n: Character(n, tuple(c["aliases"]), c["gender"]) for n, c in data["characters"].items() if n != "narrator"}
        scores = rule_accuracy([p["text"] for p in data["paragraphs"]], [p["speakers"] for p in data["paragraphs"]], characters)
        name = fixture.stem + (" (held out)" if data.get("heldout") else "")
        for rule, (right, total) in sorted(scores.items(), key=lambda item: -item[1][1]):
            print(f"{name:34} {rule:10} {right:6} {total:4} {right / total:9.2f}")
            t = totals.setdefault(rule, [0, 0])
            t[0], t[1] = t[0] + right, t[1] + total
    print()
    for rule, (right, total) in sorted(totals.items(), key=lambda item: -item[1][1]):
        print(f"{'all chapters':34} {rule:10} {right:6} {total:4} {right / total:9.2f}")
    right, total = sum(t[0] for t in totals.values()), sum(t[1] for t in totals.values())
    print(f"{'all chapters':34} {'all rules':10} {right:6} {total:4} {right / total:9.2f}")

    if not args.book.is_file():
        print(f"\n{args.book}: not found, no timing")
        return
    from tasks.attribution import attribute_chapter
    from tasks.ingest import read_source
    from tasks.script import Pacing, write_script

    chapters = [c for c in read_source(args.book).chapters if c.matter == "body"]
    words = sum(c.word_count for c in chapters)
    mark = time.perf_counter()
    quotations = sum(a.span.quoted for c in chapters for spans in attribute_chapter(c.paragraphs, {}) for a in spans)
    sieve_s = time.perf_counter() - mark
    mark = time.perf_counter()
    write_script(chapters, language="en", pacing=Pacing(), max_chars=400)
    script_s = time.perf_counter() - mark
    print(f"\n{args.book.name}: {len(chapters)} chapters, {words} words, {quotations} quotations; sieve {sieve_s:.2f} s, "
          f"writing the script {script_s:.2f} s: sieve/script {sieve_s / script_s:.2f}")


if __name__ == "__main__":
    main()
