"""How every castline command ends on a failure: one line on stderr naming the file and the
problem, exit status 1 (130 when interrupted), the traceback in the log file."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from castline import settings
from castline.errors import CastlineError, shorten

__all__ = ["console", "fail", "guarded"]

console = Console(stderr=True)
"""Where castline's commands write their errors, warnings and progress."""


def fail(exc: BaseException | str) -> NoReturn:
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def guarded(run: Callable[[], None], verbose: bool = False) -> None:
    """Run a command's body; whatever goes wrong ends as one line (and a traceback with ``verbose``)."""
    try:
        run()
    except CastlineError as exc:
        fail(exc)
    except OSError as exc:  # a file system problem the code did not expect: still name the path
        logging.getLogger("castline").error("file system error", exc_info=True)
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}")
    except typer.Exit:  # the body ended the command itself (fail() or an exit status): as it said
        raise
    except KeyboardInterrupt:
        console.print("interrupted: everything synthesized so far is cached; run again to resume")
        raise typer.Exit(130) from None
    except Exception as exc:  # the edge: anything unexpected still gets one line (and a traceback with -v)
        logging.getLogger("castline").error("unexpected failure", exc_info=True)
        if verbose:
            console.print_exception()
        fail(f"{type(exc).__name__}: {shorten(str(exc))} (the traceback is in {settings.log_file()}, or run with --verbose)")
