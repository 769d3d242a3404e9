"""The entry point for deployments and schedules: render whatever a manifest describes.

``prefect deployment run 'render-project/default' --param manifest=projects/x.yaml`` (see prefect.yaml)
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from castline.manifest import load_manifest
from flows.audiobook import audiobook
from flows.dubbing import dub

__all__ = ["render_project", "FLOWS"]

FLOWS = {"audiobook": audiobook, "dub": dub}
"""Manifest ``kind`` -> the flow that renders it."""


@flow(name="render-project", flow_run_name="render: {manifest}")
def render_project(manifest: str, output_dir: str | None = None, cache_dir: str | None = None) -> dict[str, Any]:
    """Render the production ``manifest`` describes (its ``kind`` picks the flow)."""
    return FLOWS[load_manifest(manifest).kind](manifest, output_dir, cache_dir)
