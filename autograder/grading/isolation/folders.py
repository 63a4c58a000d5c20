"""The grader's temporary folders, each named for the process that made it
(cs231n-KIND-PID-...), so that the folders of a grader killed before its cleanup (kill -9, a
lost Dask worker) do not pile up in /tmp: the next grader to make a folder of the same kind
removes those whose process is gone."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def owned(kind: str, name: str = "") -> Path:
    """A new folder (0700) in the temporary folder, cs231n-KIND-PID-[NAME-]RANDOM, after
    removing the stale ones of this kind."""
    remove_stale(kind)
    prefix = f"cs231n-{kind}-{os.getpid()}-" + (f"{name}-" if name else "")
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_stale(kind: str) -> None:
    """Remove the folders of this kind whose process is gone. A process of this machine's
    PID namespace only: a folder whose number names a running process is kept, whoever runs."""
    for folder in Path(tempfile.gettempdir()).glob(f"cs231n-{kind}-*"):
        owner = folder.name.removeprefix(f"cs231n-{kind}-").split("-")[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(folder, ignore_errors=True)
