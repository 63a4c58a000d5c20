"""The grader's temporary folders are named for their process, and a grader killed before its
cleanup leaves them only until the next grader makes one of the same kind."""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from pathlib import Path

from autograder.grading.isolation import folders


def test_the_folders_of_a_dead_process_go_and_a_live_ones_stay():
    """Does making a folder of a kind remove that kind's folders whose process is gone, keep
    those of a running process and those of other kinds, and name the new one for this
    process?"""
    kind = f"test{uuid.uuid4().hex[:8]}"
    ended = subprocess.Popen(["true"])
    ended.wait()
    tmp = Path(tempfile.gettempdir())
    dead = tmp / f"cs231n-{kind}-{ended.pid}-abc"
    alive = tmp / f"cs231n-{kind}-{os.getpid()}-def"
    other = tmp / f"cs231n-{kind}x-{ended.pid}-ghi"
    for folder in (dead, alive, other):
        folder.mkdir()
        (folder / "file").write_text("left behind")
    made = folders.owned(kind, "ada-01")
    try:
        assert not dead.exists() and alive.is_dir() and other.is_dir()
        assert made.name.startswith(f"cs231n-{kind}-{os.getpid()}-ada-01-")
        assert made.stat().st_mode & 0o777 == 0o700
    finally:
        for folder in (alive, other, made):
            subprocess.run(["rm", "-rf", str(folder)], check=True)
