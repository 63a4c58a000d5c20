"""A student kernel in the sandbox: real code, real limits. Whatever the cell does, the
grader gets a status back, the kernel comes back for the next cell, and nothing survives."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from conftest import NEEDS_SANDBOX

from autograder.course import REPO_ROOT, SAMPLES
from autograder.grading.isolation import sandbox
from autograder.grading.isolation.kernel import Limits, SandboxedKernel

pytestmark = [pytest.mark.slow, NEEDS_SANDBOX, pytest.mark.xdist_group("kernel")]


# Every test of a kernel runs on a cold one and on a warm one (forked from a server that has
# imported NumPy: warm.py), whose sandbox must be the same.
STARTS = pytest.mark.parametrize("warm", [None, ["numpy"]], ids=["cold", "warm"])


@pytest.fixture(scope="module", params=[None, ["numpy"]], ids=["cold", "warm"])
def kernel(request):
    limits = Limits(memory_bytes=1 * 2**30, processes=64, cell_timeout_s=5)
    with SandboxedKernel("test", limits=limits, warm=request.param) as k:
        assert (k.forked is not None) == bool(request.param)  # forked when asked
        yield k


def test_runs_as_its_own_user_and_finds_the_course_data(kernel):
    out = kernel.run(
        "import os\nfrom cs231n_utils.datasets import load_digits\n"
        "print(os.getuid(), load_digits()[0].shape)"
    )
    assert kernel.uid >= sandbox.FIRST_SANDBOX_UID  # its slot's, never root's
    assert out.status == "ok" and out.stdout.split() == [
        str(kernel.uid),
        "(1797,",
        "8,",
        "8)",
    ]


def test_sees_no_solutions_gradebook_or_home(kernel):
    """Are solutions/ and the autograder invisible, /root empty but for the interpreter, and
    the course's data read-only?"""
    repo, data = str(REPO_ROOT), str(REPO_ROOT / "data")
    out = kernel.run(
        "import os\n"
        f"print(sorted(os.listdir({repo!r})))\n"
        "print(sorted(os.listdir('/root')))\n"
        f"try:\n    open({data!r} + '/x', 'w')\n    print('written')\n"
        "except OSError:\n    print('refused')"  # read-only, or not the kernel's to write
    )
    assert out.status == "ok", out
    visible, home, write = out.stdout.splitlines()
    assert "solutions" not in visible and "autograder" not in visible and "data" in visible
    interpreter = Path(sys.base_prefix).parts
    allowed = [interpreter[2]] if interpreter[:2] == ("/", "root") else []
    assert home == str(allowed) and write == "refused"


def loopback(kernel) -> str:
    """ "reached" or "blocked": whether the kernel connects to a server on the host's loopback."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        out = kernel.run(
            "import socket\ntry:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2); print('reached')\n"
            "except OSError as e:\n    print('blocked')"
        )
    return out.stdout.strip()


def test_cannot_reach_the_hosts_loopback(kernel):
    assert loopback(kernel) == "blocked"


def test_a_loop_that_ignores_sigint_times_out_and_the_kernel_comes_back(kernel):
    out = kernel.run(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass"
    )
    assert out.status == "timeout"
    assert kernel.run("print('back')").stdout == "back\n"


@pytest.mark.parametrize(
    "code",
    ["x = bytearray(30 * 2**30)", "chunks = []\nwhile True: chunks.append(bytearray(2**27))"],
    ids=["at-once", "in-steps"],
)
def test_memory_blow_up_is_reported_as_memory(kernel, code):
    out = kernel.run(code, timeout=60)
    assert out.status in ("memory", "error"), out
    if out.status == "error":  # a single 30 GB request fails inside Python instead
        assert "MemoryError" in out.error
    assert kernel.run("print('back')").stdout == "back\n"


def test_os_exit_is_reported_as_died(kernel):
    assert kernel.run("import os\nos._exit(3)").status == "died"
    assert kernel.run("print(1)").status == "ok"


def test_process_cap_stops_a_fork_bomb(kernel):
    out = kernel.run(
        "import subprocess\nprocs = []\n"
        "try:\n    for _ in range(500):\n"
        "        procs.append(subprocess.Popen(['sleep', '30']))\n"
        "except OSError as e:\n    print('stopped at', len(procs))\n"
        "for p in procs: p.kill(); p.wait()",  # reaped: the later tests' forks need the room
        timeout=60,
    )
    assert out.status == "ok" and out.stdout.startswith("stopped at"), out
    assert int(out.stdout.split()[-1]) < 64


def test_stderr_is_kept_apart_from_the_verdict(kernel):
    out = kernel.run("import sys\nprint('warning', file=sys.stderr)\nprint(42)")
    assert (out.status, out.stdout, out.stderr) == ("ok", "42\n", "warning\n")


@STARTS
def test_nothing_survives_the_kernel(warm):
    """Does a double-forked daemon die with its kernel?"""
    tag = f"cs231n-daemon-{uuid.uuid4().hex[:8]}"
    with SandboxedKernel("daemon", warm=warm) as k:
        out = k.run(
            "import subprocess, sys, time\n"
            "sleeper = [sys.executable, '-c', 'import time; time.sleep(600)', "
            f"'{tag}']\n"
            "subprocess.run(['sh', '-c', '(setsid \"$@\" &); exit 0', 'sh', *sleeper])\n"
            "time.sleep(1)\nprint('spawned')"
        )
        assert out.stdout == "spawned\n", out
        alive = subprocess.run(["pgrep", "-f", tag], capture_output=True, text=True)
        assert alive.stdout.strip(), "the daemon should be running while the kernel is"
    gone = subprocess.run(["pgrep", "-f", tag], capture_output=True, text=True)
    assert gone.stdout.strip() == ""
    assert shutil.which("pgrep")
    assert not any(p.name.startswith("cs231n-daemon") for p in os.scandir("/tmp"))


@STARTS
@pytest.mark.parametrize("hide", [True, False], ids=["hidden", "control"])
def test_the_grading_folder_and_a_class_zip_can_be_hidden(hide, warm):
    """Folders and files the grader names (its output, the class's zip) are empty to the
    kernel even inside a folder it may read; the control run without hiding them reads both,
    so the check can fail. Of data/, only the listed data files exist: neither the sample
    submissions (a complete set of solutions) nor a class folder kept there."""
    tag = f"cs231n-hide-{uuid.uuid4().hex[:8]}"
    base = Path("/var/tmp") / tag
    folder, archive = base / "grades", base / "class.zip"
    folder.mkdir(parents=True)
    (folder / "gradebook.db").write_text("secret")
    archive.write_text("zipped")
    inside = REPO_ROOT / "data" / tag  # a class folder kept beside the data files
    inside.mkdir()
    (inside / "student.ipynb").write_text("{}")
    hidden = [folder, archive, inside] if hide else []
    try:
        with SandboxedKernel("hide", read_only=[base], hidden=hidden, warm=warm) as k:
            out = k.run(
                "import os\n"
                f"print(sorted(os.listdir({str(folder)!r})))\n"
                f"print(repr(open({str(archive)!r}).read()))\n"
                f"print(sorted(os.listdir({str(REPO_ROOT / 'data')!r})))\n"
                f"print(os.path.exists({str(SAMPLES)!r}))"
            )
    finally:
        shutil.rmtree(base)
        shutil.rmtree(inside)
    assert out.status == "ok", out
    listing, zipped, data, samples = out.stdout.splitlines()
    sums = (REPO_ROOT / "data" / "SHA256SUMS").read_text().splitlines()
    listed = [line.split()[1] for line in sums if line and not line.startswith("#")]
    assert data == str(sorted(["SHA256SUMS", *listed])) and samples == "False"
    assert SAMPLES.is_dir() and inside.parent == REPO_ROOT / "data"
    if hide:
        assert (listing, zipped) == ("[]", "''")
    else:
        assert (listing, zipped) == ("['gradebook.db']", "'zipped'")


@STARTS
def test_a_folder_bound_from_under_tmp_is_reachable(tmp_path_factory, warm):
    """A folder the kernel may read that lies under /tmp (a virtual environment or a course
    unpacked there, as Gradescope's test root is) is reachable through the private /tmp: the
    folders leading to it are traversable, not root's alone. A forked kernel mounts its own
    /tmp over the server's and shows the folder again."""
    base = Path(tempfile.mkdtemp(prefix="cs231n-bound-"))
    folder = base / "deep" / "course"
    folder.mkdir(parents=True)
    (folder / "note.txt").write_text("readable")
    base.chmod(0o755)
    try:
        with SandboxedKernel("bound", read_only=[folder], warm=warm) as k:
            out = k.run(f"print(open({str(folder / 'note.txt')!r}).read())")
    finally:
        shutil.rmtree(base)
    assert out.status == "ok" and out.stdout == "readable\n", out


def test_a_graded_kernel_runs_one_thread_per_pool_whatever_the_notebook_asks(kernel):
    """Does a notebook's limit_threads() in a graded kernel keep the grader's ceiling of one
    thread (a worker grades one notebook per core), and does NumPy's BLAS load with one?"""
    out = kernel.run(
        "from cs231n_utils.threads import limit_threads\n"
        "print(limit_threads(4, quiet=True))\n"
        "import numpy\nfrom threadpoolctl import threadpool_info\n"
        "print(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}))"
    )
    assert out.status == "ok", out
    assert out.stdout.splitlines() == ["1", "[1]"], out.stdout


def count_reads(client) -> list[int]:
    """A list that grows by one at each read of the client's iopub socket (this client only:
    after a restart the kernel has a new one)."""
    reads, real = [], client.get_iopub_msg

    def counted(*args, **kwargs):
        reads.append(1)
        return real(*args, **kwargs)

    client.get_iopub_msg = counted
    return reads


def test_a_kernel_killed_mid_cell_ends_it_without_the_grader_spinning(kernel):
    """When the kernel dies while a cell runs (a child of its own kills it with SIGKILL after
    a second), is the cell over as "died" well before its time limit, having read the dead
    kernel's socket a few times per second at most (a busy loop reads it thousands of times
    and burns the grader's CPU), and does the next cell run in a new kernel?"""
    client = kernel.kc
    reads = count_reads(client)
    cpu, start = time.process_time(), time.monotonic()
    out = kernel.run(
        "import os, signal, time\n"
        "if os.fork() == 0:\n"
        "    time.sleep(1)\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
        "    os._exit(0)\n"
        "time.sleep(60)"
    )
    wall, cpu = time.monotonic() - start, time.process_time() - cpu
    assert out.status == "died", out
    assert wall < kernel.limits.cell_timeout_s, wall  # noticed before the time limit
    assert len(reads) <= 10 + 5 * wall, (len(reads), wall, cpu)
    assert kernel.run("print('back')").stdout == "back\n"


def test_a_dead_iopub_socket_ends_the_cell_at_once_and_the_kernel_comes_back(kernel):
    """When the socket the grader reads a cell's output from fails (closed under it), is the
    cell over at the first failed read, as a dead kernel is, instead of retried until the
    cell's time limit (a busy loop on the grader's CPU), and does the next cell run?"""
    client = kernel.kc
    reads = count_reads(client)
    kernel._close_monitor()  # the connection monitor watches this socket
    client.iopub_channel.socket.close(linger=0)
    out = kernel.run("import time\ntime.sleep(3)\nprint('slept')")
    assert out.status == "died" and len(reads) == 1, (out, len(reads))
    assert kernel.kc is not client and kernel.run("print('back')").stdout == "back\n"
