"""Warm kernels (autograder/grading/isolation/warm.py, zygote.py): each student's kernel is
forked from a server that has imported the notebook's modules, in a sandbox of its own. Does
one student's kernel leave nothing to the next, is a forked kernel's sandbox the cold one's,
is an import that is not fork-safe left out, and does a server that fails leave kernels cold?
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import NEEDS_SANDBOX

from autograder.course import notebook_names
from autograder.grading.executors.jobs import course
from autograder.grading.isolation import folders, warm
from autograder.grading.isolation.kernel import SandboxedKernel
from autograder.grading.isolation.slots import hold_slot

pytestmark = [pytest.mark.slow, NEEDS_SANDBOX, pytest.mark.xdist_group("kernel")]

LEAVE = """
import os, subprocess, sys, numpy
numpy.left_behind = "module state"
sys.modules["left_behind"] = numpy
os.environ["LEFT_BEHIND"] = "environment"
for folder in ("/tmp", "/dev/shm"):
    open(f"{folder}/left_behind", "w").write("a file")
subprocess.Popen(["sleep", "600"], start_new_session=True)
"""
LOOK = """
import os, subprocess, sys, numpy
print(json.dumps([
    getattr(numpy, "left_behind", None),
    "left_behind" in sys.modules,
    os.environ.get("LEFT_BEHIND"),
    [os.path.exists(f"{folder}/left_behind") for folder in ("/tmp", "/dev/shm")],
    subprocess.run(["pgrep", "sleep"], capture_output=True).stdout.decode(),
]))
"""


def look(kernel) -> list:
    out = kernel.run("import json\n" + LOOK)
    assert out.status == "ok", out
    return json.loads(out.stdout)


def test_one_students_kernel_leaves_nothing_to_the_next():
    """Module state, a module, the environment, files in /tmp and /dev/shm and a process:
    the kernel that wrote them sees them (so the check can fail); the next kernel forked
    from the same server, as the same uid (when no other kernel holds the slot between), sees
    none of them."""
    with hold_slot() as slot, SandboxedKernel("first", slot, warm=["numpy"]) as first:
        assert first.forked is not None
        assert first.run(LEAVE).status == "ok"
        seen = look(first)
        server = first.server
    assert seen[:4] == ["module state", True, "environment", [True, True]]
    assert "sleep" not in seen[4] and seen[4].strip()  # pgrep lists the sleeper's pid
    with hold_slot() as slot, SandboxedKernel("second", slot, warm=["numpy"]) as second:
        assert second.forked is not None and second.server is server
        assert look(second) == [None, False, None, [False, False], ""]


FACTS = r"""
import json, os, socket, sys
def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as error:
        return error.strerror
status = open("/proc/self/status").read().splitlines()
print(json.dumps(dict(
    ids=[os.getuid(), os.getgid(), os.getgroups()],
    privileges=[line for line in status if line.startswith(("Cap", "NoNewPrivs", "Seccomp"))],
    network=[line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]],
    processes=sorted(p for p in os.listdir("/proc") if p.isdigit()),
    root=sorted(os.listdir("/")),
    dev=sorted(os.listdir("/dev")),
    cgroup=open("/proc/self/cgroup").read(),
    cgroup_files=sorted(os.listdir("/sys/fs/cgroup")),
    environment=sorted(os.environ),
    place=[os.getcwd(), sys.path, os.path.expanduser("~")],
    tmp=[(e.name, oct(e.stat().st_mode), listing(e.path)) for e in os.scandir("/tmp")],
    session_leader=os.getsid(0) == os.getpid(),
    hostname=socket.gethostname(),
)))
"""


def test_a_forked_kernel_has_the_cold_kernels_sandbox():
    """The same uid, groups, capabilities (none) and no_new_privs, network (loopback only),
    processes (its own PID namespace), files (/, /dev), cgroup, environment, working folder,
    import path and session as a cold kernel: only the name of the scratch folder in /tmp
    differs."""
    facts = {}
    with hold_slot() as slot:  # one uid for both
        for warm_modules in (None, ["numpy"]):
            with SandboxedKernel("facts", slot, warm=warm_modules) as kernel:
                out = kernel.run(FACTS)
                assert out.status == "ok", out
                facts[bool(warm_modules)] = json.loads(out.stdout)
    cold, forked = facts[False], facts[True]
    # /tmp: the kernel's scratch folder, unreadable to it (a forked kernel's is in the folder
    # of its server's kernels, which shows it alone), and the same rest: IPython's folder, and
    # the folders leading to what the view binds in /tmp (a checkout or environment there)
    cold_tmp = {e[0]: e for e in cold.pop("tmp")}
    forked_tmp = {e[0]: e for e in forked.pop("tmp")}
    (scratch,) = [n for n in cold_tmp if n.startswith("cs231n-")]
    (server,) = [n for n in forked_tmp if n.startswith("cs231n-warm-")]
    assert cold_tmp.pop(scratch)[2] == "Permission denied"
    folder = forked_tmp.pop(server)[2]
    assert len(folder) == 1 and folder[0].startswith(f"w{slot}-")
    assert cold_tmp == forked_tmp and ".ipython" in cold_tmp
    assert forked == cold
    assert cold["network"] == ["lo"] and cold["processes"] == ["1", "2"]


def test_an_import_that_is_not_fork_safe_is_left_out(monkeypatch):
    """onnxruntime starts a thread and opens a file when imported: the server finds it (the
    shortcut that leaves it out from the start is off here), starts again without it, says
    why, and the kernel imports it itself."""
    monkeypatch.setattr(warm, "NOT_FORK_SAFE", {})
    with SandboxedKernel("unsafe", warm=["numpy", "onnxruntime"]) as kernel:
        assert kernel.forked is not None
        assert "numpy" in kernel.server.report["modules"]
        assert "onnxruntime" not in kernel.server.report["modules"]
        assert "started 1 thread(s)" in kernel.server.left_out["onnxruntime"]
        out = kernel.run("import sys\nprint('onnxruntime' in sys.modules)\nimport onnxruntime")
        assert (out.status, out.stdout) == ("ok", "False\n"), out


def test_a_server_that_fails_leaves_kernels_cold(tmp_path, monkeypatch, capsys):
    """A server that dies before it is ready: the kernel starts cold and runs, and the
    grader says once why kernels are cold."""
    broken = tmp_path / "zygote.py"
    broken.write_text("import sys\nprint('not json')\nsys.exit(3)\n")
    monkeypatch.setattr(warm, "SOURCE", broken)
    modules = ["numpy", "json"]  # a server of its own (the key is the module list)
    for name in ("cold-1", "cold-2"):
        with SandboxedKernel(name, warm=modules) as kernel:
            assert kernel.forked is None
            assert kernel.run("print(6 * 7)").stdout == "42\n"
    said = capsys.readouterr().err
    assert said.count("warm kernels unavailable") == 1 and "not json" in said, said


def test_every_notebooks_server_forks_its_kernels():
    """The server of each notebook imports what the notebook imports (from the release) and
    forks kernels with those modules loaded."""
    for name in notebook_names():
        stem = Path(name).stem
        modules = warm.imports(course(stem).release)
        assert "cs231n_utils" in modules, modules
        with SandboxedKernel(stem, warm=modules) as first:
            assert first.forked is not None, stem
        loaded = first.server.report["modules"]
        assert {"numpy", "cs231n_utils"} <= set(loaded), (stem, loaded)
        with SandboxedKernel(stem, warm=modules) as kernel:
            out = kernel.run(f"import sys\nprint([m for m in {loaded!r} if m not in sys.modules])")
        assert (out.status, out.stdout) == ("ok", "[]\n"), (stem, out)


def test_the_next_server_of_the_plan_starts_ahead_and_a_held_one_stays(monkeypatch):
    """With a plan (warm.plan, from the order of a run's jobs), does asking for one server
    start the next in the background, so that its first kernel forks without waiting? Is a
    server that a kernel holds left running, with one idle server allowed, while two others
    are idle, and the least recently used idle one closed when another is asked for?"""
    monkeypatch.setattr(warm, "MAX_IDLE", 1)
    first, second = ["json", "csv"], ["csv", "json"]  # servers of their own (keys differ)
    warm.plan([first, first, second])
    try:
        with SandboxedKernel("plan-1", warm=first) as kernel:
            assert kernel.forked is not None
            [ahead] = [s for s in list(warm._servers.values()) if s.modules == second]
            deadline = time.monotonic() + 120
            while not ahead.report.get("ready") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ahead.report.get("ready") and ahead.users == 0, ahead.report
            holder = kernel.server
            holder_folder = holder.folder
            with SandboxedKernel("plan-other", warm=["json", "os"]) as other:
                assert other.forked is not None  # the held `holder` was not closed
            assert holder.process is not None and kernel.run("print(1)").stdout == "1\n"
        with SandboxedKernel("plan-2", warm=second) as kernel:
            assert kernel.server is ahead and kernel.forked is not None
        assert holder.process is None and not holder_folder.exists()  # idle longest: closed
    finally:
        warm.plan([])


def test_the_server_ends_with_the_grader(tmp_path):
    """A grader killed with SIGKILL leaves no server and no kernel behind: the server reads
    the end of its stdin, and its PID namespace takes the kernels along. The server's folder
    stays, until the next server removes it."""
    tag = f"cs231n-{tmp_path.name}"
    script = (
        "import sys, time\n"
        "from autograder.grading.isolation.kernel import SandboxedKernel\n"
        "kernel = SandboxedKernel('orphan', warm=['numpy'])\n"
        "kernel.start()\n"
        f"kernel.run(\"import subprocess; subprocess.Popen(['sleep', '600', '{tag}'])\")\n"
        "print(kernel.server.process.pid, kernel.server.folder, flush=True)\n"
        "time.sleep(600)\n"
    )
    grader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    server, folder = grader.stdout.readline().split()
    server, folder = int(server), Path(folder)
    assert subprocess.run(["pgrep", "-f", tag], capture_output=True).stdout.strip()
    grader.kill()
    grader.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        Path(f"/proc/{server}").exists()
        or subprocess.run(["pgrep", "-f", tag], capture_output=True).stdout.strip()
    ):
        time.sleep(0.2)
    assert not Path(f"/proc/{server}").exists()
    assert not subprocess.run(["pgrep", "-f", tag], capture_output=True).stdout.strip()
    assert folder.is_dir()  # left by the killed grader, and removed by the next server
    folders.remove_stale(warm.FOLDER_KIND)
    assert not folder.exists()
