"""Warm kernels: a server imports a notebook's modules once, and each student's kernel is
forked from it ready, instead of starting cold and importing them again.

A cold kernel spends most of its start on imports (TensorFlow 5-6 s, torch 1.5-3 s, ipykernel
about 1 s); grading a class starts one or two kernels per student and notebook. A
`WarmServer` runs `zygote.py` as root in a sandbox of its own, with the kernel's view of the
host's files (`mounts.kernel_view`) and two more writable folders that its forks hide again:
the folder of the kernels' scratch folders and its control socket, and the grader's cgroup
subtree. It imports the modules it is given (the grader gives what the notebook's release
imports: `imports`, `jobs.notebook_modules`; never anything of a student's), checks
after each import that no thread was started and no file left open (a module that fails is
left out and the server starts again without it), and then forks a kernel per request, each in
namespaces, cgroups, /tmp, /dev/shm and uid of its own: the same sandbox as a cold kernel
(kernel.py), with nothing carried from one student to the next but the state the imports left.
It never runs a line of a notebook, so a kernel forked from it has seen no hidden test either
(reasons.py relies on that).

Only the `sandbox` level forks (the others have no cgroup to hold a kernel's processes or no
mount namespace). A server that cannot start, fails its checks or fails a fork is marked
broken with its reason, and kernels start cold (`SandboxedKernel` says so once on stderr).
`MAX_IDLE` servers are kept without kernels; a server a kernel holds is never closed (the
kernel lives in its namespaces, its scratch folder in the server's folder). A grading run tells
`plan` the order of its notebooks, and the next notebook's server starts while the current one
forks. A server ends when the grader closes it or exits (its
stdin closes); the folders of graders that died are removed by the next server.
"""

from __future__ import annotations

import ast
import atexit
import functools
import json
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder.grading.isolation import cgroups, folders, mounts
from autograder.grading.isolation.sandbox import bwrap_command, kernel_env

SOURCE = Path(__file__).with_name("zygote.py")
START_TIMEOUT_S = 300.0  # the imports of a loaded machine (TensorFlow: about 6 s quiet)
FORK_TIMEOUT_S = 60.0
FOLDER_KIND = "warm"  # of folders.owned
MAX_IDLE = 2  # servers kept with no kernel running (memory: 0.3-0.8 GB each)
CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID")  # mounts, namespaces; the uid


# Modules known to start a thread or open a file when imported: left out of every server from
# the start, which saves starting one again without them. Only a shortcut: the server checks
# every import it makes (zygote.py), these included were they given.
NOT_FORK_SAFE = {"onnxruntime": "starts a thread and opens its telemetry database"}


class WarmError(RuntimeError):
    """The server could not give a kernel: start this one cold."""


def imports(nb) -> list[str]:
    """The modules a notebook's code cells import, in order (absolute imports only; a cell
    that does not parse, or a line of IPython syntax, is skipped)."""
    found: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = [line for line in cell.source.splitlines() if line.lstrip()[:1] not in "%!"]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append(node.module)
    return list(dict.fromkeys(found))


def cgroup_subtrees() -> list[Path]:
    """The grader's subtree in each cgroup hierarchy in use: a fork joins its kernel's group
    there (the kernel's SandboxedKernel made the group, and so the subtree, first)."""
    if cgroups.chosen().version == 2:
        return [cgroups.prepare_v2_parent()]
    return [cgroups.root() / c / cgroups.V1_PARENT for c in cgroups.V1_CONTROLLERS]


class WarmServer:
    """One zygote: `fork(request)` returns the connection whose end is the kernel's end."""

    def __init__(self, modules: list[str], view: mounts.View, env: dict[str, str]):
        known = {m: NOT_FORK_SAFE.get(m.split(".")[0]) for m in modules}
        self.modules = [m for m in modules if not known[m]]
        self.left_out = {m: why for m, why in known.items() if why}  # module -> why
        self.view = view
        self.env = env
        self.folder = folders.owned(FOLDER_KIND)  # root's, 0700
        self.control = self.folder / "control"
        self.process: subprocess.Popen | None = None
        self.broken: str | None = None
        self.report: dict = {}
        self.users = 0  # SandboxedKernels holding it (server() to release()), under _servers_lock
        self._lock = threading.RLock()  # its start, fork and close

    def scratch(self, prefix: str) -> Path:
        """A new scratch folder for one kernel, in the folder its server's forks can reach."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.folder))

    def _start(self) -> None:
        """Start the server, again without each module whose import is not fork-safe."""
        view = self.view
        self.under_tmp = under_tmp(view)
        view.bind(self.folder, writable=True)
        for subtree in cgroup_subtrees():
            view.bind(subtree, writable=True)
        while True:
            self._run_zygote(view)
            unsafe = self.report.get("unsafe")
            if self.report.get("ready") or unsafe not in self.modules:
                break
            self.left_out[unsafe] = self.report["why"]  # the kernel imports it itself
            self.modules.remove(unsafe)
            self.close(keep_folder=True)
        if not self.report.get("ready"):
            raise WarmError(self.report.get("why", "not ready"))

    def _run_zygote(self, view: mounts.View) -> None:
        config = {"modules": self.modules, "control": str(self.control)}
        caps = [a for cap in CAPABILITIES for a in ("--cap-add", cap)]
        inner = ["--chdir", "/tmp", *caps, "--", sys.executable, "-c", SOURCE.read_text()]
        command = bwrap_command(
            [*inner, json.dumps(config)], user_namespace=False, view=view, cgroups=False
        )
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,  # its end (ours closed, or this process gone) ends it
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )
        ready, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT_S)
        line = self.process.stdout.readline() if ready else b""
        try:
            self.report = json.loads(line)
        except ValueError:
            self.report = {"ready": False, "why": f"no answer: {line[:200]!r}"}

    def ensure_started(self) -> None:
        """Start the server, on a thread of `_starters`, unless it runs; WarmError if broken."""
        _starters.submit(self._start_once).result()
        if self.broken is not None:
            raise WarmError(self.broken)

    def _start_once(self) -> None:
        with self._lock:
            if self.process is None and self.broken is None:
                try:
                    self._start()
                except (OSError, WarmError) as error:
                    self.broken = f"{type(error).__name__}: {error}"
                    self._close(keep_folder=True)  # a server that hangs in an import too

    def fork(self, request: dict) -> socket.socket:
        """A kernel forked for `request` (zygote.py says what it holds); raises WarmError,
        and marks the server broken, when no kernel came."""
        self.ensure_started()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(FORK_TIMEOUT_S)
            connection.connect(str(self.control))
            request = {**request, "under_tmp": self.under_tmp}
            connection.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(connection.makefile("rb").readline() or b"{}")
        except (OSError, ValueError) as error:
            answer = {"error": f"{type(error).__name__}: {error}"}
        if not answer.get("forked"):
            connection.close()
            self.broken = f"a fork failed: {answer.get('error', answer)}"
            raise WarmError(self.broken)
        return connection

    def release(self) -> None:
        """A SandboxedKernel that held the server (`server()`) is done with it: the server
        may be closed once no kernel holds it (its scratch folders are in its folder)."""
        with _servers_lock:
            self.users -= 1

    def close(self, keep_folder: bool = False) -> None:
        with self._lock:  # not while it starts (in the background: `plan`)
            self._close(keep_folder)

    def _close(self, keep_folder: bool) -> None:
        if self.process is not None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process.stdout.close()
            self.process = None
        if not keep_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


@functools.cache
def warn_cold(why: str) -> None:
    """Say once per reason that kernels start cold."""
    print(f"cs231n-grade: warm kernels unavailable ({why}); starting kernels cold", file=sys.stderr)


def under_tmp(view: mounts.View) -> list[tuple[str, str]]:
    """The mounts of a kernel's view inside /tmp or /dev/shm, in order, as (path, "bind" or
    "tmpfs"): a fork mounts its own tmpfs there and shows them again (zygote.py)."""
    private = (Path("/tmp"), Path("/dev/shm"))
    return [
        (str(path), "tmpfs" if source is None else "bind")
        for path, source in view.mounted()
        if any(path.is_relative_to(p) and path != p for p in private)
    ]


# The threads that start servers. bubblewrap's --die-with-parent ends a server with the
# thread that started it, not with the process: a worker's thread, or one that started a
# server ahead of its use, may end before the server's last kernel. These live as long as the
# grader (a ThreadPoolExecutor keeps its threads until the interpreter exits).
_starters = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cs231n-warm-start")
_servers: OrderedDict[tuple, WarmServer] = OrderedDict()  # least recently used first
_servers_lock = threading.Lock()
_plan: list[tuple[str, ...]] = []  # the module lists a run will ask for, in order (`plan`)


def plan(order: list[list[str]]) -> None:
    """The module lists a grading run will ask servers for, in the order of its jobs. When a
    server is asked for, the next one of the plan starts in the background: a start costs its
    imports (TensorFlow's alone 5-6 s), which the workers would otherwise wait through."""
    _plan[:] = [tuple(m) for m in order]


def server(modules: list[str], view: mounts.View, env: dict[str, str]) -> WarmServer:
    """The server for these modules, view and environment, held until `release()`: the
    running one, or a new one (started at its first fork). Idle servers beyond MAX_IDLE are
    closed; the next of the plan, if any, starts."""
    found, closing = _held(modules, view, env, hold=True)
    upcoming = _plan[_plan.index(tuple(modules)) + 1 :] if tuple(modules) in _plan else []
    following = next((m for m in upcoming if m != tuple(modules)), None)
    if following is not None:
        ahead, more = _held(list(following), view, env, hold=False)
        closing += more
        _starters.submit(ahead._start_once)  # a failure is said when a kernel asks it to fork
    for old in closing:
        old.close()
    return found


def _held(modules, view, env, hold: bool) -> tuple[WarmServer, list[WarmServer]]:
    """The server of this key, now the most recently used, and the idle ones to close."""
    key = (tuple(modules), tuple(view.args), tuple(sorted(env.items())))
    with _servers_lock:
        found = _servers.pop(key, None) or WarmServer(list(modules), view, env)
        _servers[key] = found
        found.users += hold
        idle = [k for k, s in _servers.items() if s.users == 0 and s is not found]
        return found, [_servers.pop(old) for old in idle[: max(0, len(idle) - MAX_IDLE)]]


@atexit.register
def close_all() -> None:
    with _servers_lock:
        while _servers:
            _servers.popitem()[1].close()


def fork_kernel(kernel) -> bool:
    """Fork a SandboxedKernel's kernel from its server (kernel.forked: the connection); False
    when it has none or the fork fails (said once): the kernel then starts cold."""
    if kernel.server is None:
        return False
    try:
        kernel.forked = kernel.server.fork(fork_request(kernel))
    except WarmError as error:
        warn_cold(str(error))
        kernel.server = None
        return False
    return True


def fork_request(kernel) -> dict:
    """What zygote.py needs to make the kernel of a SandboxedKernel: its scratch folder (with
    the connection file kernel.json), uid, cgroup, /tmp's size and environment."""
    return {
        "connection_file": str(kernel.scratch / "kernel.json"),
        "scratch": str(kernel.scratch),
        "uid": kernel.uid,
        "cgroup_procs": [str(p) for p in kernel.cgroup.procs_files()],
        "cgroup_binds": [[str(s), str(d)] for s, d in mounts.own_cgroup_binds(kernel.cgroup)],
        "tmp_bytes": kernel.limits.tmp_bytes,
        "env": kernel_env("/tmp"),
    }
