"""Host-wide sandbox slots: which uid and cgroup name a kernel may use.

Every kernel runs as the unprivileged uid of its slot (FIRST_SANDBOX_UID + slot) in cgroups
named after it, so two kernels must never hold one slot, even when they belong to different
graders on one machine: two courses graded side by side, a local run beside a Dask worker.
A slot is an flock on its own lock file, taken for as long as one kernel runs; the operating
system releases it when the holder exits, however it exits, so a grader killed with -9 leaves
no slot taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MAX_SLOTS = 256  # uids FIRST_SANDBOX_UID .. FIRST_SANDBOX_UID + 255


def slot_dir() -> Path:
    """Where the lock files live: CS231N_SLOT_DIR, else /run/cs231n-grade for root (one
    folder for the whole machine), else a folder of this user's in the temporary folder."""
    if os.environ.get("CS231N_SLOT_DIR"):
        return Path(os.environ["CS231N_SLOT_DIR"])
    if os.geteuid() == 0:
        return Path("/run/cs231n-grade")
    return Path(tempfile.gettempdir()) / f"cs231n-grade-{os.geteuid()}"


def try_slot(index: int, folder: Path | None = None):
    """The open, locked lock file of slot `index`, or None when another holder has it."""
    folder = folder or slot_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle = open(folder / f"slot-{index:03d}.lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextlib.contextmanager
def hold_slot(slots: int = MAX_SLOTS, poll_s: float = 0.2) -> Iterator[int]:
    """Take the lowest free slot of the machine (waiting while all `slots` are taken), yield
    its index, and free it afterwards."""
    while True:
        for index in range(slots):
            handle = try_slot(index)
            if handle is not None:
                try:
                    yield index
                finally:
                    handle.close()  # closing the file drops the lock
                return
        time.sleep(poll_s)
