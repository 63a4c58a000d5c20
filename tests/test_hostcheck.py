"""cs231n-grade --check-host for real: canary copies of a solution planted where copies of the
course usually are on a grading host, a graded kernel at each isolation level, and what it
could read. A control run shows the same canaries read when their folders are in the kernel's
view, so that the checks can fail."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import NEEDS_SANDBOX

from autograder.course import REPO_ROOT
from autograder.grading import cli
from autograder.grading.isolation import hostcheck, sandbox
from autograder.grading.isolation.messages import Limits
from autograder.grading.isolation.sandbox import Isolation

pytestmark = [pytest.mark.slow, NEEDS_SANDBOX, pytest.mark.xdist_group("hostcheck")]
LIMITS = Limits(memory_bytes=2 * 2**30, processes=64)
# Places every host has (or this test run makes), whose canaries the tests look for. Where
# the checkout sits in one of them (a clone in /tmp), the folder beside it is that place, and
# planted once, under that name.
SYSTEM = {"root's home", "/srv", "/opt", "/tmp", "/var/tmp", "/dev/shm"}
BESIDE = set() if REPO_ROOT.parent in map(Path, SYSTEM) else {"beside the checkout"}
EXPECTED = SYSTEM | BESIDE | {"the checkout", "the checkout's data/"}


@functools.cache
def available() -> tuple[Isolation, ...]:
    return tuple(sandbox.available_levels(sandbox.probe()))


@functools.cache
def report(level: Isolation, control: bool = False) -> hostcheck.Report:
    """One check per level for the session. control: the folders that hold the canaries
    (but the kernel's private /tmp and /dev/shm) are added to the kernel's view, as the
    sandbox's old `--ro-bind / /` showed them."""
    if level not in available():
        pytest.skip(f"isolation level {level} is not available here")
    for folder in ("/srv", "/opt"):  # a host without them gets them for the run
        Path(folder).mkdir(mode=0o755, exist_ok=True)
    shown = []
    if control:
        private = {Path("/tmp"), Path("/dev/shm"), Path.cwd()}
        shown = [folder for _, folder in hostcheck.places() if folder not in private]
    # The control's kernel is cold: its view binds root's 0700 home over the Python
    # installation, and a fork (which imports later, as the student's uid) cannot read it.
    # A cold kernel's sandbox is a warm one's (tests/test_warm.py).
    return hostcheck.check(level, LIMITS, search_s=20.0, read_only=shown, warm=not control)


def canaries(result: hostcheck.Report) -> dict[str, tuple[str, str]]:
    """what -> (path, outcome) of the planted canaries."""
    return {what: (path, out) for what, path, out in result.places if "cs231n-canary-" in path}


def no_canary_left() -> bool:
    return not [p for _, folder in hostcheck.places() for p in folder.glob("cs231n-canary-*")]


@pytest.mark.parametrize("level", [Isolation.SANDBOX, Isolation.NAMESPACES], ids=str)
def test_no_planted_copy_exists_for_a_sandboxed_kernel(level):
    """At `sandbox` (a warm kernel, as grading starts them) and `namespaces`: is every canary
    and every protected course file absent from the kernel's view (not even a name), the
    search of its whole file system empty, the network cut, and were the canaries removed
    afterwards?"""
    result = report(level)
    assert result.started == ("warm" if level is Isolation.SANDBOX else "cold")  # as graded
    planted = canaries(result)
    assert EXPECTED <= set(planted), sorted(planted)
    assert {out for _, out in planted.values()} == {"FileNotFoundError"}, planted
    course = [(path, out) for what, path, out in result.places if what.startswith("the course")]
    assert course and {out for _, out in course} == {"FileNotFoundError"}, course
    assert result.found == [] and result.search["complete"], result.search
    assert result.readable() == [] and "OK: the kernel read no canary" in result.text()
    assert result.network["loopback"].startswith("blocked")
    assert result.network["route"].startswith("none") and result.network["interfaces"] == ["lo"]
    assert no_canary_left()


def test_the_caps_are_read_from_inside_the_kernel():
    """Do the caps the kernel reads about itself match the grader's: its cgroup at `sandbox`
    (bound read-only where a container shows it), rlimits at `namespaces`?"""
    inside = report(Isolation.SANDBOX).limits
    assert (inside["cgroup memory"], inside["cgroup pids"]) == (LIMITS.memory_bytes, 64)
    inside = report(Isolation.NAMESPACES).limits
    assert (inside["RLIMIT_AS"], inside["RLIMIT_NPROC"], inside["cgroup memory"]) == (
        LIMITS.memory_bytes,
        64,
        None,
    )
    assert "Memory cap: cgroup 2048 MiB" in report(Isolation.SANDBOX).text()


def test_without_the_allow_list_the_same_copies_are_read():
    """The control: with the canaries' folders in the kernel's view, does the same probe read
    each canary that other users may read (the one in root's 0700 home stays unreadable),
    and does the search find them? A sandbox that showed them would fail the test above."""
    result = report(Isolation.SANDBOX, control=True)
    planted = canaries(result)
    shown = {"/srv", "/opt", "/var/tmp", *BESIDE, "the checkout", "the checkout's data/"}
    if Path("/tmp") in REPO_ROOT.parents:  # the kernel's own /tmp covers a checkout in /tmp
        shown -= {"the checkout", "the checkout's data/"}
    assert {what for what, (_, out) in planted.items() if out == "read"} >= shown
    assert planted["root's home"][1] == "PermissionError"
    assert {planted[what][0] for what in shown} <= set(result.found)
    assert "FAIL: a student's kernel reads" in result.text()
    assert no_canary_left()


def test_the_uid_level_reads_what_the_hosts_permissions_allow():
    """At `uid` the host's permissions are the only wall: is a canary in world-readable /tmp
    read and found by the search, one in root's 0700 home not, the host's loopback reached,
    and the report failing with that advice?"""
    result = report(Isolation.UID)
    planted = canaries(result)
    assert planted["/tmp"][1] == "read" and planted["/tmp"][0] in result.found
    assert planted["root's home"][1] == "PermissionError"
    assert result.network["loopback"] == "reached"
    assert result.limits["RLIMIT_AS"] == LIMITS.memory_bytes
    assert "At 'uid' the host's permissions are the only wall" in result.text()
    assert no_canary_left()


def test_cs231n_grade_check_host_exits_1_when_a_copy_is_readable(capsys):
    """Does `cs231n-grade --check-host --isolation uid` print the report and exit 1 on a host
    where a world-readable copy exists (it planted one in /tmp)?"""
    if Isolation.UID not in available():
        pytest.skip("the uid level is not available here")
    code = cli.main(["--check-host", "--isolation", "uid", "--memory-mb", "2048"])
    printed = capsys.readouterr().out
    assert code == 1 and "[READABLE] /tmp:" in printed and "FAIL:" in printed
    assert "Memory cap: cgroup none, RLIMIT_AS 2048 MiB" in printed
    assert no_canary_left()


def test_canaries_are_removed_when_the_check_fails():
    """A check that fails while planting (a read-only place) removes what it planted, and a
    canary left by an earlier check that was killed is removed too."""
    base = Path(tempfile.mkdtemp(prefix="cs231n-canaries-"))
    try:
        name, source = hostcheck.solution_cell()
        stale = hostcheck.plant(base, "0123456789abcdef", name, source)
        keep = base / "cs231n-canary-mine"  # not a canary's name: left alone
        keep.mkdir()
        where = [("writable", base), ("read-only", Path("/proc/sys"))]
        with pytest.raises(OSError):
            hostcheck.check(Isolation.SANDBOX, LIMITS, where=where)
        assert not stale.exists() and sorted(base.iterdir()) == [keep]
    finally:
        shutil.rmtree(base)


def test_places_are_the_usual_ones_that_exist():
    """Are the checkout, the folder beside it and its data/ among the places, each once?"""
    found = dict((what, folder) for what, folder in hostcheck.places())
    beside = "beside the checkout" if BESIDE else str(REPO_ROOT.parent)
    assert found["the checkout"] == REPO_ROOT and found[beside] == REPO_ROOT.parent
    folders = [folder.resolve() for _, folder in hostcheck.places()]
    assert len(folders) == len(set(folders))
