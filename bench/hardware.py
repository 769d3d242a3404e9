"""What a benchmark ran on, printed at the top of every benchmark's output."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    return float("nan")


def describe(packages: tuple[str, ...] = ()) -> str:
    """One paragraph: CPU, cores, memory, OS, Python and the versions of ``packages``."""
    versions = []
    for name in packages:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    lines = [
        f"CPU: {_cpu_model()}, {os.cpu_count()} cores; RAM {_memory_gib():.0f} GiB; {platform.system()} {platform.release()}",
        f"Python {platform.python_version()}" + (f"; {', '.join(versions)}" if versions else ""),
    ]
    return "\n".join(lines)
