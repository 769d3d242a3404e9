"""The ``castline`` command.

    castline validate MANIFEST     check a manifest, its voices and its source without rendering
    castline chapters MANIFEST     list the book's chapters as ``chapters.select`` numbers them
    castline characters MANIFEST   list the speakers of the book's quotations, to build the cast
    castline cast MANIFEST         write the cast sheet: every utterance with its speaker, to correct
    castline render MANIFEST       render it (Prefect, embedded; no server needed)
    castline voices                list the voice profiles a project can use

Errors print one line naming the file and the problem and exit with status 1.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from castline import lifeline, settings
from castline.console import console, fail, guarded

if TYPE_CHECKING:
    from flows.preflight import Plan

app = typer.Typer(
    name="castline",
    help="Batch production of spoken audio: EPUB to a mastered audiobook, on Prefect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

STAGES = {
    "synthesize": "Synthesizing utterances", "master": "Mastering chapters", "fit": "Fitting speech to cues",
    "mix": "Mixing and mastering",
}

ManifestArg = typer.Argument(..., exists=False, dir_okay=False, help="The project manifest (YAML).")


def _console_worthy(record: logging.LogRecord) -> bool:
    """Without -v the terminal shows castline's warnings, never Prefect's chatter or a traceback."""
    return not record.name.startswith("prefect") and record.exc_info is None


def _setup(verbose: bool) -> None:
    """Logging: the terminal gets warnings (everything with -v); the log file gets everything.

    Prefect keeps a root handler it finds (ours) and sends its flow and task logs there; a
    failing flow logs its traceback at ERROR. Without -v those go to the log file only, so a
    failure prints the one-line ``error:`` and nothing else.
    """
    settings.configure()
    terminal = RichHandler(console=console, show_path=False, show_time=verbose)
    terminal.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        terminal.addFilter(_console_worthy)
    handlers: list[logging.Handler] = [terminal]
    try:
        settings.log_file().parent.mkdir(parents=True, exist_ok=True)
        file = RotatingFileHandler(settings.log_file(), maxBytes=5 << 20, backupCount=3, encoding="utf-8")
        file.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
        handlers.append(file)
    except OSError:  # an unwritable home: the terminal still says what matters
        pass
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # every Prefect API request, otherwise


def _preflight(manifest: Path, out: Path | None, cache: str | None) -> Plan:
    """Everything that can be checked before a render starts: manifest, voices, book, chapters, cache."""
    from castline.project import load_project

    project = load_project(manifest, out)  # a missing or malformed manifest fails here, before heavy imports
    from flows.preflight import preflight

    plan = preflight(project, cache)
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    return plan


@app.command()
def validate(
    manifest: Path = ManifestArg,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show informational logs."),
) -> None:
    """Check MANIFEST, its voices and its source book without rendering anything."""
    _setup(verbose)

    def run() -> None:
        plan = _preflight(manifest, None, None)
        print(f"{manifest}: ok: {plan.summary()}")

    guarded(run, verbose)


@app.command()
def chapters(
    source: Path = typer.Argument(..., help="A manifest (YAML) or a book (EPUB)."),
) -> None:
    """List the chapters of a book, numbered as ``chapters.select`` in a manifest counts them."""
    _setup(False)

    def run() -> None:
        from tasks.ingest import read_source

        book_path = source
        if source.suffix.lower() in (".yaml", ".yml"):
            from castline.project import load_project

            project = load_project(source)
            if "source" not in project.inputs:
                fail(f"{source}: a {project.manifest.kind} manifest has no book to list chapters of")
            book_path = project.inputs["source"]
        book = read_source(book_path)
        table = Table(title=escape(f"{book.title} ({book_path.name})"))
        for column in ("#", "matter", "depth", "words", "title"):
            table.add_column(column, justify="right" if column in ("#", "words", "depth") else "left")
        for n, c in enumerate(book.chapters, 1):
            table.add_row(str(n), c.matter, str(c.depth), str(c.word_count), escape(c.title))
        Console().print(table)
        for warning in book.warnings:
            console.print(f"[yellow]warning:[/] {escape(f'{book_path.name}: {warning}')}", highlight=False)

    guarded(run)


def _audiobook_plan(manifest: Path) -> Any:
    from flows.preflight import AudiobookPlan

    plan = _preflight(manifest, None, None)
    if not isinstance(plan, AudiobookPlan):
        fail(f"{manifest}: a {plan.project.manifest.kind} manifest has no book to attribute")
    return plan


@app.command()
def characters(manifest: Path = ManifestArg) -> None:
    """List who speaks the quotations of MANIFEST's chapters: counts, an example, the voice cast."""
    _setup(False)

    def run() -> None:
        from collections import Counter

        from flows.audiobook_plan import characters_of
        from tasks.attribution import attribute_chapter

        plan = _audiobook_plan(manifest)
        m = plan.manifest
        counts: Counter[str] = Counter()
        rules: dict[str, Counter[str]] = {}
        example: dict[str, str] = {}
        for chapter in plan.chapters:
            for spans in attribute_chapter(chapter.paragraphs, characters_of(m), default_speaker=m.dialogue.default_speaker):
                for a in (a for a in spans if a.span.quoted):
                    counts[a.speaker] += 1
                    rules.setdefault(a.speaker, Counter())[a.rule] += 1
                    example.setdefault(a.speaker, a.span.text)
        table = Table(title=escape(f"Speakers of {len(plan.chapters)} chapters ({plan.source.name})"))
        for column in ("speaker", "quotations", "found by", "voice", "example"):
            table.add_column(column, justify="right" if column == "quotations" else "left")
        for speaker, count in counts.most_common():
            how = ", ".join(f"{rule} {n}" for rule, n in rules[speaker].most_common())
            cast = "listed" if speaker in m.characters else "not listed"
            voice = f"{plan.cast.role_for(speaker)}: {plan.cast.voice_for(speaker).name} ({cast})"
            text = example[speaker] if len(example[speaker]) <= 60 else example[speaker][:59] + "\u2026"
            table.add_row(escape(speaker), str(count), how, escape(voice), escape(text))
        Console().print(table)
        if not m.attributes_dialogue:
            console.print("The narrator reads every quotation: list characters (or a 'dialogue' voice) in the manifest "
                          "to give them voices.", highlight=False)

    guarded(run)


@app.command()
def cast(
    manifest: Path = ManifestArg,
    sheet: Path | None = typer.Option(None, "--sheet", help="Where to write it (default: the manifest's cast sheet)."),
) -> None:
    """Write MANIFEST's cast sheet: every utterance with its speaker and how it was found, to correct."""
    _setup(False)

    def run() -> None:
        from collections import Counter

        from flows.audiobook_plan import write_the_script
        from flows.preflight import cast_sheet_path
        from tasks.cast_sheet import write_cast_sheet

        plan = _audiobook_plan(manifest)
        if not plan.manifest.attributes_dialogue:
            fail(f"{manifest}: no characters (or 'dialogue' voice) listed, so the narrator reads everything and there is "
                 f"nothing to cast; see castline characters {manifest}")
        script = write_the_script(plan)
        target = sheet or cast_sheet_path(plan.project)
        write_cast_sheet(script, target)
        speakers = Counter(u.speaker for u in script)
        print(f"{target}: {len(script)} utterances; " + ", ".join(f"{s} {n}" for s, n in speakers.most_common()))

    guarded(run)


def _start_prefect_server() -> threading.Thread | None:
    """Start Prefect's ephemeral API server in the background while the preflight runs.

    Without ``PREFECT_API_URL`` the first flow call starts a local server in a subprocess and
    waits for it (about 7 s here); starting it early overlaps that wait with reading the book.
    The flow then finds the server running (Prefect keeps one instance per port, shared by
    subclasses). The server process is adopted by castline's lifeline, so it dies with
    castline. Any failure is left for the flow to report.
    """
    if os.environ.get("PREFECT_API_URL"):
        return None

    def start() -> None:
        try:
            from prefect.server.api.server import SubprocessASGIServer

            class AdoptedServer(SubprocessASGIServer):
                def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
                    process = super()._run_uvicorn_command()
                    lifeline.adopt(process.pid)
                    return process

            AdoptedServer().start()
        except Exception as exc:  # the flow tries again and reports it properly
            logging.getLogger(__name__).debug("early Prefect server start failed: %s", exc)

    thread = threading.Thread(target=start, name="prefect-server", daemon=True)
    thread.start()
    return thread


def _up_to_date(plan: Plan) -> bool:
    """Whether a render would change nothing (then Prefect need not even start)."""
    from flows.preflight import AudiobookPlan

    if isinstance(plan, AudiobookPlan):
        from flows.audiobook_plan import up_to_date

        return up_to_date(plan)
    return False


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM ends a render like Ctrl-C: clean-up handlers run (Python's default would skip them)."""
    raise KeyboardInterrupt


def _progress_bar() -> tuple[Progress, Callable[[str, int, int], None]]:
    bar = Progress(
        TextColumn("{task.description:<26}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console, transient=False, disable=not console.is_terminal,
    )
    ids: dict[str, TaskID] = {}

    def listener(stage: str, done: int, total: int) -> None:
        if stage not in ids:
            ids[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
        bar.update(ids[stage], completed=done, total=total)

    return bar, listener


@app.command()
def render(
    manifest: Path = ManifestArg,
    out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (default: output.dir of the manifest)."),
    cache_dir: str | None = typer.Option(
        None, "--cache-dir", envvar="CASTLINE_CACHE_DIR",
        help="Utterance cache: a directory or an fsspec URL (s3://bucket/cache), shared between projects "
             "or workers (default: inside the output directory).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's and castline's logs."),
) -> None:
    """Render MANIFEST: synthesize what the cache lacks, master, and publish the deliverables."""
    _setup(verbose)

    def run() -> None:
        from castline import progress

        plan = _preflight(manifest, out, cache_dir)
        if _up_to_date(plan):
            print(f"up to date: {plan.project.output_dir} already holds what {manifest.name} describes "
                  "(nothing to synthesize, master or encode)")
            return
        lifeline.start()
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        server = _start_prefect_server()
        from flows.preflight import hand_over
        from flows.render_project import FLOWS

        hand_over(plan, cache_dir)
        if server:
            server.join()

        bar, listener = _progress_bar()
        remove = progress.listen(listener)
        try:
            with bar:
                result = FLOWS[plan.project.manifest.kind](str(plan.project.manifest_path), str(out) if out else None, cache_dir)
        finally:
            remove()
        print(f"rendered {result['title']!r}: {result['duration_s'] / 60:.1f} min, "
              f"{result['synthesized']} utterances synthesized, {result['cache_hits']} from the cache")
        for name in result["files"]:
            print(f"  {plan.project.output_dir / name}")
        for name in dict.fromkeys(n.split("/")[0] for n in result.get("packaged", [])):
            print(f"  {plan.project.output_dir / name}")  # a package's folder once, not each file in it
        print(f"  {plan.project.output_dir / 'report.md'}")

    guarded(run, verbose)


@app.command()
def gc(
    manifest: Path = ManifestArg,
    max_age: str | None = typer.Option(None, "--max-age", help="Remove entries unused for longer than this (30d, 12h, 90m)."),
    max_size: str | None = typer.Option(None, "--max-size", help="Then remove the oldest until each store fits (10G, 500M)."),
    cache_dir: str | None = typer.Option(
        None, "--cache-dir", envvar="CASTLINE_CACHE_DIR", help="The utterance cache, if it is not the project's own."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Say what would be removed; remove nothing."),
) -> None:
    """Prune MANIFEST's utterance cache and mastered-chapter store by age and/or size."""
    _setup(False)
    from castline.gc import parse_age_s, parse_size_bytes, prune

    if max_age is None and max_size is None:
        fail("gc: give --max-age, --max-size or both")
    try:
        age_s = parse_age_s(max_age) if max_age else None
        size_bytes = parse_size_bytes(max_size) if max_size else None
    except ValueError as exc:
        fail(f"gc: {exc}")

    def run() -> None:
        from castline.lock import output_lock
        from castline.project import load_project
        from flows.preflight import cache_storage, chapter_storage

        project = load_project(manifest)
        layout = project.layout
        stores = (("utterance cache", cache_storage(project, cache_dir)), ("mastered chapters", chapter_storage(project)))
        with output_lock(layout.lock, layout.output_dir):  # never prune under a running render of this project
            for label, storage in stores:
                result = prune(storage, max_age_s=age_s, max_size_bytes=size_bytes, dry_run=dry_run)
                verb = "would remove" if dry_run else "removed"
                print(f"{label} ({storage.url}): {verb} {result.removed_entries} entries ({result.removed_bytes / 1e6:.1f} MB), "
                      f"kept {result.kept_entries} ({result.kept_bytes / 1e6:.1f} MB)")

    guarded(run)


@app.command()
def review(
    manifest: Path = ManifestArg,
    out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (default: output.dir of the manifest)."),
    only_print: bool = typer.Option(False, "--print", "--no-open", help="Only print the page's path; open no browser."),
) -> None:
    """Open the review page of MANIFEST's last render in a browser (and print its path)."""
    _setup(False)

    def run() -> None:
        from castline.project import load_project
        from tasks.review_page import latest_review_page

        project = load_project(manifest, out)
        page = latest_review_page(project.layout)
        if page is None:
            fail(f"{project.output_dir}: no review page there yet; render first (castline render {manifest})")
        print(page)
        if not only_print:
            import webbrowser

            if not webbrowser.open(page.as_uri()):
                console.print("no browser found: open the page above yourself", highlight=False)

    guarded(run)


def _mount_voices() -> None:
    from voices.cli import voices_app

    app.add_typer(voices_app, name="voices")


_mount_voices()


if __name__ == "__main__":  # pragma: no cover
    app()
