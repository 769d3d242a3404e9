"""The nightly render: every manifest under a folder, one after the other.

    prefect deployment run 'render-all/nightly'        (scheduled in prefect.yaml)

Each manifest is rendered by the ``render-project`` flow, as a subflow; an unchanged one
finishes fast through castline's own cache. A manifest that fails is recorded and the rest
still run. The outcome of each is a markdown artifact (key ``render-all-summary``), and if any
failed the flow raises :class:`RenderAllError` naming them, so the run ends Failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from castline.errors import CastlineError, InputError, shorten
from castline.yamlsafe import YamlError, load_yaml_file
from flows.render_project import render_project
from flows.run_log import log_to_the_flow_run

__all__ = ["render_all", "find_manifests", "RenderAllError", "SUMMARY_KEY"]

SUMMARY_KEY = "render-all-summary"
"""Key of the markdown artifact that lists each manifest's outcome."""


class RenderAllError(CastlineError):
    """One or more manifests of a ``render-all`` run failed; the message names them."""


def _is_manifest(path: Path) -> bool:
    """Whether ``path`` is a manifest: YAML with a top-level ``kind`` (a voice profile, with
    ``engine:``, is not). YAML that cannot be read, or a kind castline does not know (a misspelt
    ``audiobok``), counts as one, so that the render reports what is wrong with it instead of
    skipping it silently."""
    try:
        raw = load_yaml_file(path, "manifest")
    except (OSError, YamlError):
        return True
    return isinstance(raw, dict) and "kind" in raw


def find_manifests(folder: Path, pattern: str = "**/*.yaml") -> list[Path]:
    """The manifests under ``folder`` matching ``pattern``, sorted; hidden folders (a render's
    ``.castline/``) are left out."""
    if not folder.is_dir():
        raise InputError(folder, "not a folder")
    found = (p for p in folder.glob(pattern) if p.is_file())
    return sorted(p for p in found if not any(s.startswith(".") for s in p.relative_to(folder).parts) and _is_manifest(p))


def _line(name: str, outcome: dict[str, Any]) -> str:
    if "error" in outcome:
        return f"- `{name}`: failed: {outcome['error']}"
    return (f"- `{name}`: rendered (files: {len(outcome['files'])}, synthesized: {outcome['synthesized']}, "
            f"cache hits: {outcome['cache_hits']})")


@flow(name="render-all", flow_run_name="render all: {folder}")
def render_all(folder: str, pattern: str = "**/*.yaml", output_root: str | None = None,
               cache_dir: str | None = None) -> dict[str, Any]:
    """Render every manifest under ``folder`` (see :func:`find_manifests`), each into its own
    ``output.dir``, or into ``output_root/<its path under folder, without .yaml>`` when given."""
    log_to_the_flow_run()
    logger, root = get_run_logger(), Path(folder)
    outcomes: dict[str, dict[str, Any]] = {}
    for path in find_manifests(root, pattern):
        name = path.relative_to(root).as_posix()
        out = str(Path(output_root, name).with_suffix("")) if output_root else None
        try:
            done = render_project(str(path), out, cache_dir)
            outcomes[name] = {k: done.get(k) for k in ("files", "synthesized", "cache_hits")}
        except Exception as exc:  # any failure: recorded, and the next manifest still renders
            outcomes[name] = {"error": shorten(" ".join(str(exc).split()) or type(exc).__name__, 400)}
            logger.error("%s failed: %s", name, outcomes[name]["error"])
    failed = [name for name, outcome in outcomes.items() if "error" in outcome]
    lines = [_line(name, outcome) for name, outcome in outcomes.items()] or ["(no manifests found)"]
    summary = f"## Render of `{folder}` ({pattern}): {len(outcomes) - len(failed)} rendered, {len(failed)} failed\n\n"
    create_markdown_artifact(summary + "\n".join(lines), key=SUMMARY_KEY, description=f"render-all {folder}")
    if failed:
        raise RenderAllError(f"{len(failed)} of {len(outcomes)} manifests failed: {', '.join(failed)}")
    return {"folder": folder, "manifests": outcomes}
