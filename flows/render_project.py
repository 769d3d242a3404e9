"""The entry point for deployments and schedules: render whatever a manifest describes.

``prefect deployment run 'render-project/nightly' --param manifest=projects/x.yaml``
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from castline.manifest import load_manifest
from flows.audiobook import audiobook

__all__ = ["render_project"]


@flow(name="render-project", flow_run_name="render: {manifest}")
def render_project(manifest: str, output_dir: str | None = None, cache_dir: str | None = None) -> dict[str, Any]:
    """Render the production ``manifest`` describes (its ``kind`` picks the flow)."""
    kind = load_manifest(manifest).kind
    if kind == "audiobook":
        return audiobook(manifest, output_dir, cache_dir)
    raise NotImplementedError(f"kind {kind!r}")
