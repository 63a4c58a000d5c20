"""A memory cap and a process cap per sandboxed kernel, from cgroup v2 or cgroup v1: its
out-of-memory count and a way to kill everything in it. The kernel sees one interface,
`Cgroup`, and `create` picks the version that works on this host (`choose`).

cgroup v2 (the unified hierarchy; Ubuntu 22.04+, Debian 12, Fedora, Kubernetes nodes): one
leaf group per kernel under a subtree the grader owns, by default `<mount>/cs231n-grade`,
with `+memory +pids` written to the `cgroup.subtree_control` of every group above the leaves.
Writing there is allowed only in a group that holds no process of its own (cgroup v2's
no-internal-processes rule; the root group is exempt), so the subtree is a group of its own
that only ever holds leaves. On a systemd host that works as root (the grader's subtree sits
beside system.slice and user.slice, which systemd leaves alone). Without root, the grader
needs a delegated subtree: run it in a unit with `Delegate=yes` (e.g. `systemd-run
--property=Delegate=yes --scope ...`), move it into a leaf of its own so that the unit's group
holds no process, and point CS231N_CGROUP2_PARENT at a folder under the unit's group.

cgroup v1 (older hosts, and hybrid ones whose unified hierarchy lacks memory and pids): one
group per controller, `<root>/memory/cs231n/<name>` and `<root>/pids/cs231n/<name>`.

Paths are read from the environment at each call, so tests can point them at a folder laid
out like a cgroup mount: CS231N_CGROUP_ROOT (default /sys/fs/cgroup: the v1 controllers' and
the unified mount) and CS231N_CGROUP2_PARENT (the grader's v2 subtree, relative to the
unified mount, or absolute). Every change to a cgroup file goes through `_write`, `_mkdir`
and `_rmdir`, so a test can stand in for the kernel.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

V1_CONTROLLERS = ("memory", "pids")
V1_PARENT = "cs231n"  # <root>/<controller>/cs231n/<group>
V2_PARENT = "cs231n-grade"  # <unified mount>/cs231n-grade/<group>
V2_CONTROLLERS = "+memory +pids"


def root() -> Path:
    return Path(os.environ.get("CS231N_CGROUP_ROOT", "/sys/fs/cgroup"))


def unified_mount() -> Path | None:
    """The cgroup2 mount: the root itself on a v2-only host, `unified` on a hybrid one."""
    for path in (root(), root() / "unified"):
        if (path / "cgroup.controllers").is_file():
            return path
    return None


def v2_parent() -> Path | None:
    mount = unified_mount()
    if mount is None:
        return None
    return mount / os.environ.get("CS231N_CGROUP2_PARENT", V2_PARENT)  # an absolute one wins


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _mkdir(path: Path) -> None:
    path.mkdir()


def _rmdir(path: Path) -> None:
    path.rmdir()


def _ensure_dir(path: Path) -> None:
    try:
        _mkdir(path)
    except FileExistsError:  # another kernel's thread made it first, or a leftover
        pass


def _rmdir_when_empty(path: Path, tries: int = 50) -> None:
    """rmdir fails while the last killed process is still being torn down: retry a while."""
    for _ in range(tries):
        try:
            _rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def _sigkill_until_empty(group: Cgroup, timeout: float) -> None:
    """SIGKILL every process in the group until none is left (a fork racing the kill is
    caught on the next pass)."""
    deadline = time.monotonic() + timeout
    while (pids := group.pids()) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


class Cgroup:
    """A kernel's cgroup, whatever the version: it is joined by writing a pid to each of
    `procs_files()` (the kernel's start command does that for itself)."""

    version: int

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.procs_files() == other.procs_files()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(str, self.procs_files()))})"

    def procs_files(self) -> list[Path]:
        raise NotImplementedError

    def pids(self) -> list[int]:
        """The processes in the group."""
        return [int(p) for p in _read(self.procs_files()[0]).split()]

    def oom_kills(self) -> int:
        """How many processes the kernel's out-of-memory killer ended in this group."""
        raise NotImplementedError

    def kill_all(self, timeout: float = 10.0) -> None:
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError


class CgroupV1(Cgroup):
    """One cgroup v1 group per controller (memory, pids), for one kernel."""

    version = 1

    def __init__(self, dirs: dict[str, Path]):
        self.dirs = dirs

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int) -> CgroupV1:
        group = cls({c: root() / c / V1_PARENT / name for c in V1_CONTROLLERS})
        for path in group.dirs.values():
            _ensure_dir(path.parent)
            _ensure_dir(path)
        _write(group.dirs["memory"] / "memory.limit_in_bytes", str(memory_bytes))
        _write(group.dirs["pids"] / "pids.max", str(processes))
        return group

    def procs_files(self) -> list[Path]:
        return [path / "cgroup.procs" for path in self.dirs.values()]

    def oom_kills(self) -> int:
        for line in _read(self.dirs["memory"] / "memory.oom_control").splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return int(_read(self.dirs["memory"] / "memory.failcnt"))

    def kill_all(self, timeout: float = 10.0) -> None:
        _sigkill_until_empty(self, timeout)

    def remove(self) -> None:
        self.kill_all()
        for path in self.dirs.values():
            _rmdir_when_empty(path)


class CgroupV2(Cgroup):
    """One leaf of the grader's cgroup v2 subtree, for one kernel."""

    version = 2

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int) -> CgroupV2:
        parent = prepare_v2_parent()
        group = cls(parent / name)
        _ensure_dir(group.path)
        _write(group.path / "memory.max", str(memory_bytes))
        if (group.path / "memory.swap.max").exists():  # absent without swap accounting
            _write(group.path / "memory.swap.max", "0")  # the cap is on memory, not RAM
        _write(group.path / "pids.max", str(processes))
        return group

    def procs_files(self) -> list[Path]:
        return [self.path / "cgroup.procs"]

    def oom_kills(self) -> int:
        for line in _read(self.path / "memory.events").splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def kill_all(self, timeout: float = 10.0) -> None:
        """cgroup.kill (Linux 5.14+) kills every process in the group at once, forks in
        flight included; then wait until the group is empty. Older kernels: SIGKILL passes."""
        kill = self.path / "cgroup.kill"
        if not self.pids():
            return
        if not kill.exists():
            _sigkill_until_empty(self, timeout)
            return
        deadline = time.monotonic() + timeout
        _write(kill, "1")
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.02)

    def remove(self) -> None:
        self.kill_all()
        _rmdir_when_empty(self.path)


def prepare_v2_parent() -> Path:
    """The grader's v2 subtree, created if missing, with the memory and pids controllers
    enabled for its leaves (in every group from the mount down to it)."""
    mount, parent = unified_mount(), v2_parent()
    if mount is None or parent is None:
        raise OSError("no cgroup2 mount")
    if parent == mount or not parent.is_relative_to(mount):
        raise OSError(f"the grader's subtree {parent} is not below the cgroup2 mount {mount}")
    below = [parent, *parent.parents]
    below = list(reversed(below[: below.index(mount)]))  # outermost first
    for group in [mount, *below]:
        if group != mount:
            _ensure_dir(group)
        enabled = _read(group / "cgroup.subtree_control").split()
        if not {"memory", "pids"} <= set(enabled):
            _write(group / "cgroup.subtree_control", V2_CONTROLLERS)
    return parent


@dataclass(frozen=True)
class Choice:
    version: int | None  # 2, 1, or None: no cgroup works here
    reason: str


def _try(create) -> None:
    """Create a group, move a child process into it, see it there, kill it, remove the
    group: the whole protocol a kernel goes through, for real."""
    group = create(f"probe-{os.getpid()}", 256 * 2**20, 64)
    child = None
    try:
        child = subprocess.Popen(["sleep", "30"])
        for procs in group.procs_files():
            _write(procs, str(child.pid))
        if child.pid not in group.pids():
            raise OSError(f"a process written to {group.procs_files()[0]} is not listed there")
        group.kill_all(timeout=5)
    finally:
        if child is not None:
            child.kill()
            child.wait()
        group.remove()


def _v2_unavailable() -> str | None:
    mount = unified_mount()
    if mount is None:
        return f"no cgroup2 mount at {root()} or {root() / 'unified'}"
    available = _read(mount / "cgroup.controllers").split()
    lacking = [c for c in V1_CONTROLLERS if c not in available]
    if lacking:
        return (
            f"cgroup2 at {mount} lacks {' and '.join(lacking)} (it has only "
            f"{' '.join(available) or 'no controller'}: the rest are bound to cgroup v1)"
        )
    try:
        _try(CgroupV2.create)
    except OSError as error:
        return f"cannot use the subtree {v2_parent()}: {error} (needs root or a delegated one)"
    return None


def _v1_unavailable() -> str | None:
    lacking = [c for c in V1_CONTROLLERS if not (root() / c / "cgroup.procs").is_file()]
    if lacking:
        return f"no cgroup v1 {' or '.join(lacking)} controller under {root()}"
    try:
        _try(CgroupV1.create)
    except OSError as error:
        return f"cannot create cgroup v1 groups under {root()}: {error}"
    return None


def probe() -> Choice:
    """The cgroup version this host offers the grader, found by trying it: v2 where the
    unified hierarchy has memory and pids and the grader can write its subtree, else v1,
    else none; the reason names what ruled each out."""
    why_not_v2 = _v2_unavailable()
    if why_not_v2 is None:
        return Choice(2, f"cgroup v2: leaves of {v2_parent()} (memory.max, pids.max)")
    why_not_v1 = _v1_unavailable()
    if why_not_v1 is None:
        return Choice(1, f"cgroup v1: memory and pids under {root()} (not v2: {why_not_v2})")
    return Choice(None, f"no usable cgroup: v2: {why_not_v2}; v1: {why_not_v1}")


@functools.cache
def chosen() -> Choice:
    """probe(), once per grader."""
    return probe()


def create(name: str, memory_bytes: int, processes: int) -> Cgroup:
    """A kernel's cgroup, of the version this host offers."""
    version = chosen().version
    if version is None:
        raise OSError(chosen().reason)
    cls = CgroupV2 if version == 2 else CgroupV1
    return cls.create(name, memory_bytes, processes)


def groups() -> list[Cgroup]:
    """Every kernel group of any grader on this host, of either version."""
    found: list[Cgroup] = []
    parent = v2_parent()
    if parent is not None and parent.is_dir():
        found += [CgroupV2(p) for p in parent.iterdir() if p.is_dir()]
    for controller in V1_CONTROLLERS:
        folder = root() / controller / V1_PARENT
        if folder.is_dir():
            found += [CgroupV1({controller: p}) for p in folder.iterdir() if p.is_dir()]
    return found


def remove_stale_cgroups() -> None:
    """Remove the cgroups of graders that died (kill -9) before cleaning up after themselves,
    killing anything still in them. A group's name ends in its grader's pid."""
    for group in groups():
        path = group.path if isinstance(group, CgroupV2) else next(iter(group.dirs.values()))
        owner = path.name.rsplit("-", 1)[-1]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            group.remove()
