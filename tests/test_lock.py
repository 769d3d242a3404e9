"""One render per output directory: a live holder refuses the next, a dead one does not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from castline.errors import OutputInUseError
from castline.layout import OutputLayout
from castline.lock import output_lock

HOLD = """
import sys, time
from pathlib import Path
from castline.lock import output_lock
with output_lock(Path(sys.argv[1]), Path(sys.argv[2])):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_holder_is_refused_with_the_folder_and_the_first_holder(tmp_path: Path) -> None:
    layout = OutputLayout(tmp_path / "out")
    with output_lock(layout.lock, layout.output_dir), pytest.raises(OutputInUseError) as err, output_lock(layout.lock, layout.output_dir):
        pass
    message = str(err.value)
    assert message.startswith(f"{layout.output_dir}: another render is using this output directory (pid {os.getpid()} on ")
    with output_lock(layout.lock, layout.output_dir):  # released when the first render ended
        pass


def test_a_lock_left_by_a_killed_render_does_not_block(tmp_path: Path) -> None:
    layout = OutputLayout(tmp_path / "out")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(layout.lock), str(layout.output_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputInUseError, match=f"pid {holder.pid} on "), output_lock(layout.lock, layout.output_dir):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert layout.lock.exists()  # the file stays; the lock died with its process
    with output_lock(layout.lock, layout.output_dir):
        pass
