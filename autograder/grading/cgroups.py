"""cgroup v1 memory and pids groups, one pair per sandboxed kernel: its memory cap, its
process cap, its out-of-memory count, and a way to kill everything in it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from autograder.grading.sandbox import CGROUP_V1

CONTROLLERS = ("memory", "pids")


class Cgroup:
    """One cgroup v1 group per controller, for one kernel."""

    def __init__(self, dirs: dict[str, Path]):
        self.dirs = dirs

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int) -> Cgroup:
        group = cls({c: CGROUP_V1 / c / "cs231n" / name for c in CONTROLLERS})
        for path in group.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        (group.dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
        (group.dirs["pids"] / "pids.max").write_text(str(processes))
        return group

    def procs_files(self) -> list[Path]:
        return [path / "cgroup.procs" for path in self.dirs.values()]

    def oom_kills(self) -> int:
        for line in (self.dirs["memory"] / "memory.oom_control").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return int((self.dirs["memory"] / "memory.failcnt").read_text())

    def pids(self) -> list[int]:
        """The processes in the group (every controller's group holds the same ones)."""
        procs = next(iter(self.dirs.values())) / "cgroup.procs"
        return [int(p) for p in procs.read_text().split()]

    def kill_all(self, timeout: float = 10.0) -> None:
        """SIGKILL every process in the group until none is left (a fork racing the kill is
        caught on the next pass)."""
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def remove(self) -> None:
        self.kill_all()
        for path in self.dirs.values():
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.05)


def remove_stale_cgroups() -> None:
    """Remove the cgroups of graders that died (kill -9) before cleaning up after themselves,
    killing anything still in them."""
    for controller in ("memory", "pids"):
        parent = CGROUP_V1 / controller / "cs231n"
        if not parent.is_dir():
            continue
        for group in parent.iterdir():
            owner = group.name.rsplit("-", 1)[-1]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                Cgroup({controller: group}).remove()
