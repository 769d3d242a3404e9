"""The entry point for deployments and schedules: render whatever a manifest describes.

``prefect deployment run 'render-project/default' --param manifest=projects/x.yaml`` (see prefect.yaml)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow

from castline.manifest import load_manifest
from flows.audiobook import audiobook
from flows.dubbing import dub
from flows.task_runners import chosen_task_runner

__all__ = ["render_project", "render_audiobook_flow", "FLOWS"]


def render_audiobook_flow(manifest: str, output_dir: str | None = None, cache_dir: str | None = None) -> dict[str, Any]:
    """The :func:`~flows.audiobook.audiobook` flow on the task runner the environment chooses
    now (``CASTLINE_TASK_RUNNER``, see :mod:`flows.task_runners`): read at each call, so a
    long-lived worker follows a changed setting, and the flow's own default stays threads."""
    return audiobook.with_options(task_runner=chosen_task_runner())(manifest, output_dir, cache_dir)


FLOWS: dict[str, Callable[[str, str | None, str | None], dict[str, Any]]] = {"audiobook": render_audiobook_flow, "dub": dub}
"""Manifest ``kind`` -> what renders it: a flow (the audiobook's on the chosen task runner)."""


@flow(name="render-project", flow_run_name="render: {manifest}")
def render_project(manifest: str, output_dir: str | None = None, cache_dir: str | None = None) -> dict[str, Any]:
    """Render the production ``manifest`` describes (its ``kind`` picks the flow)."""
    return FLOWS[load_manifest(manifest).kind](manifest, output_dir, cache_dir)
