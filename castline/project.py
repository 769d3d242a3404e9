"""A project: a manifest with its paths resolved against the project directory.

The project directory is where the manifest lives. Every input file the manifest names is
resolved against it and must exist; the output directory must lie inside it (a manifest is
untrusted input, so it must not make castline write elsewhere), unless the command line
chose the output directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from castline.errors import ManifestError
from castline.layout import OutputLayout, inside
from castline.manifest import Manifest, load_manifest

__all__ = ["Project", "load_project"]


@dataclass(frozen=True)
class Project:
    """A manifest with its paths resolved."""

    manifest_path: Path
    manifest: Manifest
    root: Path
    """The project directory: where the manifest lives."""
    output_dir: Path
    inputs: dict[str, Path]
    """Manifest key -> the existing file it names (``source``, ``cover``...)."""

    @property
    def layout(self) -> OutputLayout:
        return OutputLayout(self.output_dir)


def load_project(path: str | Path, output_dir: str | Path | None = None) -> Project:
    """Load a manifest and resolve its paths.

    ``output_dir`` (from the command line, so trusted) overrides ``output.dir`` and may lie
    anywhere; the manifest's own ``output.dir`` must stay inside the project directory.
    """
    path = Path(path).resolve()
    manifest = load_manifest(path)
    root = path.parent
    inputs = {}
    for key, value in manifest.input_files().items():
        try:
            file = (root / Path(value).expanduser()).resolve()
            found = file.is_file()
        except (OSError, RuntimeError) as exc:  # a name too long for the file system, an unknown ~user
            raise ManifestError(path, key, f"cannot use this path: {exc}") from None
        if not found:
            raise ManifestError(path, key, f"file not found: {file}")
        inputs[key] = file
    if output_dir is not None:
        out = Path(output_dir).resolve()
    else:
        out = (root / manifest.output.dir).resolve()
        if not inside(out, root) or out == root:
            raise ManifestError(
                path, "output.dir", f"{manifest.output.dir!r} is outside the project directory {root} (use a subdirectory)"
            )
    if out.exists() and not out.is_dir():
        raise ManifestError(path, "output.dir", f"{out} exists and is not a directory")
    return Project(manifest_path=path, manifest=manifest, root=root, output_dir=out, inputs=inputs)

