"""The weaker isolation levels for real: a kernel at `namespaces` (bubblewrap, uid, rlimits)
and at `uid` (uid and rlimits only). Is what each promises kept, and is what `uid` does not
protect really unprotected (so that the report says the truth)?"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from conftest import NEEDS_SANDBOX
from test_kernel import loopback

from autograder.course import REPO_ROOT, SAMPLES
from autograder.grading import api, cli, config
from autograder.grading.isolation import sandbox, uids
from autograder.grading.isolation.kernel import Limits, SandboxedKernel
from autograder.grading.isolation.sandbox import FIRST_SANDBOX_UID, Isolation

pytestmark = [pytest.mark.slow, NEEDS_SANDBOX, pytest.mark.xdist_group("isolation_levels")]
LIMITS = Limits(memory_bytes=2 * 2**30, processes=64, cell_timeout_s=10)
# The parts of a checkout no kernel at `uid` may read (uids.protected_paths), one file each.
PARTS = [
    "solutions/dl_software/01.ipynb",
    "autograder/mutations/01.toml",
    "tests/adversarial.py",
    "build/gradescope/autograder.zip",
    "data/sample_submissions/complete/01.ipynb",
]


@pytest.fixture(scope="module", params=[Isolation.NAMESPACES, Isolation.UID], ids=str)
def kernel(request):
    # No worker given: the kernel takes a free host-wide slot, so no other kernel has its uid
    # (its end kills every process of that uid).
    with SandboxedKernel("level", limits=LIMITS, isolation=request.param) as k:
        yield k


@pytest.fixture(scope="module")
def folders():
    """A 0700 folder of root's and a world-readable one, each with a file."""
    base = Path("/var/tmp") / f"cs231n-levels-{uuid.uuid4().hex[:8]}"
    secret, public = base / "secret", base / "public"
    for folder, mode in ((secret, 0o700), (public, 0o755)):
        folder.mkdir(parents=True)
        folder.chmod(mode)
        (folder / "answers.txt").write_text("42")
    base.chmod(0o755)
    yield secret, public
    subprocess.run(["rm", "-rf", str(base)], check=True)


def test_runs_as_the_slots_uid_and_cannot_read_a_private_folder(kernel, folders):
    """At `uid` the host's permissions decide: a 0700 folder is unreadable, a world-readable
    one readable. At `namespaces` neither exists: the sandbox shows only its allow-list."""
    secret, public = folders
    out = kernel.run(
        "import os\nprint(os.getuid())\n"
        f"for path in [{str(secret)!r}, {str(public)!r}]:\n"
        "    try:\n        print(open(path + '/answers.txt').read())\n"
        "    except OSError as e:\n        print(type(e).__name__)"
    )
    assert out.status == "ok", out
    if kernel.isolation is Isolation.UID:
        assert out.stdout.split() == [str(kernel.uid), "PermissionError", "42"]
    else:
        assert out.stdout.split() == [str(kernel.uid), *["FileNotFoundError"] * 2]


def test_the_process_limit_stops_a_fork_bomb(kernel):
    out = kernel.run(
        "import subprocess\nprocs = []\n"
        "try:\n    for _ in range(500):\n"
        "        procs.append(subprocess.Popen(['sleep', '30']))\n"
        "except OSError as e:\n    print('stopped at', len(procs))\n"
        "for p in procs: p.kill()\nfor p in procs: p.wait()",
        timeout=60,
    )
    assert out.status == "ok" and out.stdout.startswith("stopped at"), out
    assert int(out.stdout.split()[-1]) < LIMITS.processes


def test_the_memory_limit_stops_a_memory_hog(kernel):
    """No cgroup: the out-of-memory is a MemoryError (or a crash), not `memory`."""
    out = kernel.run("chunks = []\nwhile True: chunks.append(bytearray(2**27))", timeout=60)
    assert (out.status, out.error) == ("error", "MemoryError: ") or out.status == "died", out
    assert kernel.run("print('back')").stdout == "back\n"


def test_the_network_is_cut_by_namespaces_only(kernel):
    """`namespaces` cuts the network; `uid` does not, as --check-sandbox says."""
    expected = "blocked" if kernel.isolation is Isolation.NAMESPACES else "reached"
    assert loopback(kernel) == expected
    assert ("no network isolation" in sandbox.LEVELS[kernel.isolation].does_not) == (
        expected == "reached"
    )


@pytest.mark.parametrize("level", [Isolation.NAMESPACES, Isolation.UID], ids=str)
def test_no_process_of_the_uid_survives_the_kernel(level):
    """Does a double-forked daemon, in a session of its own, die with its kernel?"""
    with SandboxedKernel("daemon", limits=LIMITS, isolation=level) as k:
        out = k.run(
            "import subprocess, time\n"
            "subprocess.run(['sh', '-c', '(setsid sleep 600 &); exit 0'])\n"
            "time.sleep(0.5)\nprint('spawned')"
        )
        assert out.stdout == "spawned\n"
        uid, kernel_pid = k.uid, k.km.provisioner.pid
        daemons = [p for p in uids.processes_of(uid) if p != kernel_pid]
        assert daemons, "the daemon should be running while the kernel is"
        # the slot is still held here: nothing else runs as this uid until it is released
        k.kill()
        assert uids.processes_of(uid) == []


def test_readable_by_finds_what_a_uid_can_read(folders, tmp_path):
    """A 0700 folder is unreadable; a world-readable one is found; so is a readable file in a
    folder that can be entered but not listed (its name is no secret)."""
    secret, public = folders
    hidden_names = public.parent / "unlisted"
    hidden_names.mkdir(mode=0o711, exist_ok=True)
    hidden_names.chmod(0o711)
    (hidden_names / "solution.ipynb").write_text("{}")
    found = uids.readable_by(FIRST_SANDBOX_UID, [secret, public, hidden_names])
    assert found == [public, hidden_names / "solution.ipynb"]


def test_the_uid_level_refuses_readable_solutions_and_hides_the_grading_folder(folders, tmp_path):
    """cs231n-grade --isolation uid: is the grading folder made 0700, and grading refused,
    naming the path, while the submissions are world-readable?"""
    _, public = folders
    out = tmp_path / "grading"
    out.mkdir(mode=0o755)
    settings = dataclasses.replace(config.load(), isolation=Isolation.UID, scheduler=None)
    assert api.isolation(settings) is Isolation.UID
    with pytest.raises(PermissionError, match=str(public)):
        uids.protect(out, [str(public)], [FIRST_SANDBOX_UID])
    assert out.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("part", PARTS)
def test_the_uid_level_refuses_each_readable_part_of_the_checkout(part, tmp_path):
    """In a checkout whose every other part is closed (0700), does one world-readable part
    (the solutions, the grader's sources and mutations, the tests, a build, the samples) stop
    grading at `uid`, named; and does closing it let grading start? The kernel's own files
    (cs231n_utils/, data/'s files) stay readable."""
    root = Path(tempfile.mkdtemp(prefix="cs231n-checkout-", dir="/var/tmp"))
    try:
        for name in ["cs231n_utils/__init__.py", "data/digits.npz", *PARTS]:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text("x")
        subprocess.run(["chmod", "-R", "u=rwX,go=rX", str(root)], check=True)
        for name in ("solutions", "autograder", "tests", "build", "data/sample_submissions"):
            (root / name).chmod(0o700)
        out = tmp_path / "grading"
        out.mkdir()
        uids.protect(out, [], [FIRST_SANDBOX_UID], root=root)  # all closed: no refusal
        opened = root / part.split("/")[0]
        if part.startswith("data/"):
            opened = root / "data" / "sample_submissions"
        opened.chmod(0o755)
        with pytest.raises(PermissionError, match=str(opened)):
            uids.protect(out, [], [FIRST_SANDBOX_UID], root=root)
    finally:
        shutil.rmtree(root)


def test_grading_at_uid_refuses_this_checkout_while_its_solutions_are_world_readable(tmp_path):
    """The real path: `cs231n-grade --isolation uid` on this checkout, whose solutions are
    readable by other users here, stops before running anything, naming them."""
    solutions = REPO_ROOT / "solutions"
    if not uids.readable_by(FIRST_SANDBOX_UID, [solutions]):
        pytest.skip("this checkout's solutions are closed to other users")
    argv = [str(SAMPLES), "--out", str(tmp_path / "out"), "--isolation", "uid",
            "--notebooks", "06_data_loading", "--no-progress"]  # fmt: skip
    with pytest.raises(SystemExit) as refused:
        cli.main(argv)
    assert str(solutions) in str(refused.value.code)
    assert "unreadable to other users" in str(refused.value.code)
    assert not (tmp_path / "out" / "references").exists()
