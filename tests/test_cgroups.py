"""The cgroup file protocol, v2 and v1, against a folder laid out like a cgroup mount: what is
written where, how a group is joined, killed and removed, where the out-of-memory count is
read, and which version is chosen. A plain folder does not create a cgroup's files on mkdir
nor kill on cgroup.kill, so FakeCgroupFs plays the kernel's part; the processes are real."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from autograder.grading.isolation import cgroups

V2_FILES = {
    "cgroup.procs": "",
    "cgroup.subtree_control": "",
    "memory.max": "max",
    "memory.swap.max": "max",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    "pids.max": "max",
}
V1_FILES = {
    "memory": {
        "cgroup.procs": "",
        "memory.limit_in_bytes": "9223372036854771712",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "memory.failcnt": "0",
    },
    "pids": {"cgroup.procs": "", "pids.max": "max"},
}


def alive(pid: int) -> bool:
    """Whether pid runs (a zombie has left its cgroup, as the kernel counts it)."""
    try:
        return not Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


class FakeCgroupFs:
    """root: a cgroup2 mount (`unified`: at root/unified, as on hybrid hosts), v1 controller
    mounts (`v1`), or both; every write is recorded as (path relative to root, text)."""

    def __init__(self, root: Path, unified="memory pids", v1=False, hybrid=False, kill=True):
        self.root, self.kill = root, kill
        self.mount = root / "unified" if hybrid else root
        self.writes: list[tuple[str, str]] = []
        if unified is not None:
            self.mount.mkdir(exist_ok=True)
            (self.mount / "cgroup.controllers").write_text(unified)
            (self.mount / "cgroup.subtree_control").write_text("")
            (self.mount / "cgroup.procs").write_text("1\n")  # the root group holds processes
        if v1:
            for controller in V1_FILES:
                (root / controller).mkdir()
                (root / controller / "cgroup.procs").write_text("1\n")

    def install(self, monkeypatch) -> FakeCgroupFs:
        monkeypatch.setenv("CS231N_CGROUP_ROOT", str(self.root))
        monkeypatch.delenv("CS231N_CGROUP2_PARENT", raising=False)
        for name in ("read", "write", "mkdir", "rmdir"):
            monkeypatch.setattr(cgroups, f"_{name}", getattr(self, name))
        return self

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def mkdir(self, path: Path) -> None:
        path.mkdir()
        if path.is_relative_to(self.mount) and (self.mount / "cgroup.controllers").exists():
            files = dict(V2_FILES)
            files["cgroup.controllers"] = (path.parent / "cgroup.subtree_control").read_text()
            if self.kill:
                files["cgroup.kill"] = ""
        else:
            files = V1_FILES[path.relative_to(self.root).parts[0]]
        for name, text in files.items():
            (path / name).write_text(text)

    def rmdir(self, path: Path) -> None:
        if self.read(path / "cgroup.procs").split() or any(p.is_dir() for p in path.iterdir()):
            raise OSError(errno.EBUSY, "Device or resource busy", str(path))
        shutil.rmtree(path)

    def read(self, path: Path) -> str:
        text = path.read_text()
        if path.name == "cgroup.procs":  # a process that ended has left
            text = "".join(f"{p}\n" for p in text.split() if alive(int(p)))
        return text

    def write(self, path: Path, text: str) -> None:
        self.writes.append((self.relative(path), text))
        group = path.parent
        if path.name == "cgroup.procs":  # joining: appended, as a cgroup moves, not replaces
            with open(path, "a") as procs:
                procs.write(text.strip() + "\n")
        elif path.name == "cgroup.kill" and text == "1":
            for pid in self.read(group / "cgroup.procs").split():
                os.kill(int(pid), signal.SIGKILL)
        elif path.name == "cgroup.subtree_control":
            if group != self.mount and self.read(group / "cgroup.procs").split():
                raise OSError(errno.EBUSY, "no internal processes", str(path))  # cgroup v2's rule
            enabled = set(path.read_text().split())
            for word in text.split():
                if word[1:] not in self.read(group / "cgroup.controllers").split():
                    raise OSError(errno.ENOENT, "controller not available", str(path))
                enabled = enabled | {word[1:]} if word[0] == "+" else enabled - {word[1:]}
            path.write_text(" ".join(sorted(enabled)))
        else:
            path.write_text(text)


@pytest.fixture(autouse=True)
def fresh_choice():
    cgroups.chosen.cache_clear()
    yield
    cgroups.chosen.cache_clear()  # the real host's choice for later tests in this process


@pytest.fixture
def sleepers():
    started: list[subprocess.Popen] = []

    def start(n: int) -> list[subprocess.Popen]:
        started.extend(subprocess.Popen(["sleep", "60"]) for _ in range(n))
        return started[-n:]

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_v2_is_chosen_and_tried_whole_when_unified_has_memory_and_pids(tmp_path, monkeypatch):
    """Is v2 chosen, after a probe that enabled the controllers down to the grader's subtree,
    limited, joined, killed through cgroup.kill and removed a group?"""
    fs = FakeCgroupFs(tmp_path).install(monkeypatch)
    choice = cgroups.probe()
    assert choice.version == 2, choice.reason
    leaf = f"cs231n-grade/probe-{os.getpid()}"
    written = [(path, text) for path, text in fs.writes if path != f"{leaf}/cgroup.procs"]
    assert written == [
        ("cgroup.subtree_control", "+memory +pids"),
        ("cs231n-grade/cgroup.subtree_control", "+memory +pids"),
        (f"{leaf}/memory.max", str(256 * 2**20)),
        (f"{leaf}/memory.swap.max", "0"),
        (f"{leaf}/pids.max", "64"),
        (f"{leaf}/cgroup.kill", "1"),
    ]
    assert not (tmp_path / leaf).exists() and (tmp_path / "cs231n-grade").is_dir()


def test_create_writes_the_limits_in_a_leaf_and_joins_through_its_procs(tmp_path, monkeypatch):
    fs = FakeCgroupFs(tmp_path).install(monkeypatch)
    group = cgroups.create("ada-w0-1", 3 * 2**30, 100)
    leaf = tmp_path / "cs231n-grade" / "ada-w0-1"
    assert isinstance(group, cgroups.CgroupV2) and group.path == leaf
    assert (leaf / "memory.max").read_text() == str(3 * 2**30)
    assert (leaf / "memory.swap.max").read_text() == "0"
    assert (leaf / "pids.max").read_text() == "100"
    assert group.procs_files() == [leaf / "cgroup.procs"]
    assert "memory pids" == (tmp_path / "cs231n-grade" / "cgroup.subtree_control").read_text()
    fs.writes.clear()
    cgroups.create("bob-w1-1", 2**30, 10)  # the subtree is ready: only the leaf is written
    assert [path for path, _ in fs.writes] == [
        "cs231n-grade/bob-w1-1/memory.max",
        "cs231n-grade/bob-w1-1/memory.swap.max",
        "cs231n-grade/bob-w1-1/pids.max",
    ]


def test_kill_all_writes_cgroup_kill_and_waits_until_the_group_is_empty(
    tmp_path, monkeypatch, sleepers
):
    fs = FakeCgroupFs(tmp_path).install(monkeypatch)
    group = cgroups.create("ada-w0-1", 2**30, 10)
    processes = sleepers(3)
    for process in processes:
        fs.write(group.procs_files()[0], str(process.pid))
    assert sorted(group.pids()) == sorted(p.pid for p in processes)
    fs.writes.clear()
    group.kill_all(timeout=10)
    assert fs.writes == [("cs231n-grade/ada-w0-1/cgroup.kill", "1")]
    assert group.pids() == [] and [p.wait(timeout=10) for p in processes] == [-9] * 3
    group.remove()
    assert not group.path.exists()


def test_without_cgroup_kill_processes_are_killed_one_by_one(tmp_path, monkeypatch, sleepers):
    """Before Linux 5.14 there is no cgroup.kill: is every process SIGKILLed instead?"""
    fs = FakeCgroupFs(tmp_path, kill=False).install(monkeypatch)
    group = cgroups.create("ada-w0-1", 2**30, 10)
    processes = sleepers(2)
    for process in processes:
        fs.write(group.procs_files()[0], str(process.pid))
    group.kill_all(timeout=10)
    assert not any(path.endswith("cgroup.kill") for path, _ in fs.writes)
    assert [p.wait(timeout=10) for p in processes] == [-9] * 2


def test_out_of_memory_kills_are_read_from_memory_events(tmp_path, monkeypatch):
    FakeCgroupFs(tmp_path).install(monkeypatch)
    group = cgroups.create("ada-w0-1", 2**30, 10)
    assert group.oom_kills() == 0
    events = (group.path / "memory.events").read_text().replace("oom_kill 0", "oom_kill 3")
    (group.path / "memory.events").write_text(events)
    assert group.oom_kills() == 3


def test_stale_groups_of_dead_graders_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    FakeCgroupFs(tmp_path, v1=True, hybrid=True).install(monkeypatch)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = cgroups.CgroupV2.create(f"ada-w0-{dead.pid}", 2**30, 10)
    live = cgroups.CgroupV2.create(f"bob-w0-{os.getpid()}", 2**30, 10)
    stale_v1 = cgroups.CgroupV1.create(f"eve-w0-{dead.pid}", 2**30, 10)
    assert len(cgroups.groups()) == 4  # v1 groups are listed once per controller
    cgroups.remove_stale_cgroups()
    assert not stale.path.exists() and live.path.exists()
    assert not any(path.exists() for path in stale_v1.dirs.values())


def test_v1_is_chosen_where_the_unified_hierarchy_lacks_memory_and_pids(tmp_path, monkeypatch):
    """A hybrid host like this one: cgroup2 at /sys/fs/cgroup/unified with hugetlb only."""
    fs = FakeCgroupFs(tmp_path, unified="hugetlb", v1=True, hybrid=True).install(monkeypatch)
    choice = cgroups.probe()
    assert choice.version == 1
    assert "lacks memory and pids" in choice.reason and "hugetlb" in choice.reason
    leaf = f"probe-{os.getpid()}"
    assert [w for w in fs.writes if not w[0].endswith("cgroup.procs")] == [
        (f"memory/cs231n/{leaf}/memory.limit_in_bytes", str(256 * 2**20)),
        (f"pids/cs231n/{leaf}/pids.max", "64"),
    ]
    group = cgroups.create("ada-w0-1", 2**30, 10)
    assert isinstance(group, cgroups.CgroupV1)
    assert group.procs_files() == [
        tmp_path / c / "cs231n" / "ada-w0-1" / "cgroup.procs" for c in ("memory", "pids")
    ]


def test_no_cgroup_when_neither_version_works_and_each_reason_is_said(tmp_path, monkeypatch):
    FakeCgroupFs(tmp_path, unified=None).install(monkeypatch)
    choice = cgroups.probe()
    assert choice.version is None
    assert "v2: no cgroup2 mount" in choice.reason and "v1: no cgroup v1 memory" in choice.reason
    with pytest.raises(OSError, match="no usable cgroup"):
        cgroups.create("ada-w0-1", 2**30, 10)


def test_a_subtree_whose_parent_holds_processes_is_not_usable(tmp_path, monkeypatch):
    """cgroup v2's no-internal-processes rule: controllers cannot be enabled for the children
    of a group that holds processes (a systemd unit that did not move itself into a leaf)."""
    fs = FakeCgroupFs(tmp_path).install(monkeypatch)
    busy = tmp_path / "grader.service"
    fs.mkdir(busy)
    (busy / "cgroup.controllers").write_text("memory pids")
    (busy / "cgroup.procs").write_text(f"{os.getpid()}\n")
    monkeypatch.setenv("CS231N_CGROUP2_PARENT", "grader.service/cs231n-grade")
    choice = cgroups.probe()
    assert choice.version is None and "cannot use the subtree" in choice.reason
    (busy / "cgroup.procs").write_text("")  # the grader moved into a leaf of its own
    assert cgroups.probe().version == 2
