"""A Jupyter kernel in a sandbox, for running one student's notebook.

The kernel runs inside bubblewrap with no network (it talks to the grader over Unix sockets in
its scratch folder, Jupyter's `ipc` transport, since a network namespace has no route to the
host's loopback), sees the system read-only, the course's helper package and data read-only,
and nothing else of the repository or the grading folder. It runs as an unprivileged uid in
cgroup v1 `memory` and `pids` groups, so a memory blow-up or a fork bomb hits its own limits,
and `kill()` ends every process it started, double-forked daemons included.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client import KernelManager

from autograder.sandbox import CGROUP_V1, FIRST_SANDBOX_UID, bwrap_command

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Limits:
    memory_bytes: int = 4 * 2**30
    processes: int = 256
    cell_timeout_s: float = 120.0


@dataclass
class CellOutcome:
    status: str  # "ok", "error", "timeout", "died" or "memory"
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # "Name: message" of an exception the cell raised
    outputs: list = field(default_factory=list)


class _Cgroup:
    """One cgroup v1 group per controller, for one kernel."""

    def __init__(self, name: str, limits: Limits):
        self.dirs = {c: CGROUP_V1 / c / "cs231n" / name for c in ("memory", "pids")}
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        (self.dirs["memory"] / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
        (self.dirs["pids"] / "pids.max").write_text(str(limits.processes))

    def procs_files(self) -> list[Path]:
        return [path / "cgroup.procs" for path in self.dirs.values()]

    def oom_kills(self) -> int:
        for line in (self.dirs["memory"] / "memory.oom_control").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return int((self.dirs["memory"] / "memory.failcnt").read_text())

    def pids(self) -> list[int]:
        return [int(p) for p in (self.dirs["pids"] / "cgroup.procs").read_text().split()]

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


class SandboxedKernel:
    """with SandboxedKernel("ada-01", worker=0) as kernel: kernel.run(code)"""

    def __init__(
        self,
        name: str,
        worker: int = 0,
        limits: Limits | None = None,
        read_only: list[Path] = (),
    ):
        self.name = name
        self.uid = FIRST_SANDBOX_UID + worker
        self.limits = limits or Limits()
        self.read_only = [Path(p) for p in read_only]
        self.scratch = Path(tempfile.mkdtemp(prefix=f"cs231n-{name}-"))
        os.chown(self.scratch, self.uid, self.uid)
        self.cgroup = _Cgroup(f"{name}-{os.getpid()}", self.limits)
        self.km: KernelManager | None = None
        self.kc = None

    # ------------------------------------------------------------------ start and stop

    def _command(self, kernel_cmd: list[str]) -> list[str]:
        hidden = [REPO_ROOT, Path("/root"), Path("/home")]
        hide = [arg for path in hidden for arg in ("--tmpfs", str(path))]
        python = [Path(sys.base_prefix), Path(sys.prefix)]  # the interpreter, then the venv
        binds = []
        for path in [*python, REPO_ROOT / "cs231n_utils", REPO_ROOT / "data", *self.read_only]:
            # Folders that lead to a bound path through a hidden (tmpfs) folder are created
            # traversable: bubblewrap would otherwise make them 0700 and root's.
            for parent in reversed(path.parents):
                if any(parent != h and parent.is_relative_to(h) for h in hidden):
                    binds += ["--perms", "0755", "--dir", str(parent)]
            binds += ["--ro-bind", str(path), str(path)]
        drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups"]
        sandbox = bwrap_command(
            [
                *hide,
                *binds,
                "--bind", str(self.scratch), str(self.scratch),
                "--chdir", str(self.scratch),
                "--setenv", "HOME", str(self.scratch),
                "--setenv", "CS231N_DATA", str(REPO_ROOT / "data"),
                "--setenv", "OMP_NUM_THREADS", "1",
                "--setenv", "MPLBACKEND", "agg",
                "--unsetenv", "JPY_PARENT_PID",  # the grader's pid is invisible in here
                "--",
                *drop,
                "--",
                *kernel_cmd,
            ],
            user_namespace=False,
        )  # fmt: skip
        # A root shell puts itself into the cgroups and execs bubblewrap, which builds the
        # sandbox as root and starts the kernel in it as the unprivileged uid; everything the
        # kernel starts inherits the cgroups.
        join = "; ".join(f"echo $$ > {f}" for f in self.cgroup.procs_files())
        return ["/bin/sh", "-c", f'{join}; exec "$@"', "sh", *sandbox]

    def start(self) -> None:
        sandboxed = self

        class Manager(KernelManager):
            def format_kernel_cmd(self, extra_arguments=None):
                return sandboxed._command(super().format_kernel_cmd(extra_arguments))

        self.km = Manager(kernel_name="python3", transport="ipc", ip=str(self.scratch / "kernel"))
        self.km.connection_file = str(self.scratch / "kernel.json")
        self.km.start_kernel(cwd=str(self.scratch))
        for path in self.scratch.iterdir():
            os.chown(path, self.uid, self.uid)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def kill(self) -> None:
        """End the kernel and everything it started."""
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        self.cgroup.kill_all()
        if self.km is not None:
            self.km.cleanup_resources()
            self.km = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def __enter__(self) -> SandboxedKernel:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
        self.cgroup.remove()
        shutil.rmtree(self.scratch, ignore_errors=True)

    # ------------------------------------------------------------------------- running

    def run(self, code: str, timeout: float | None = None) -> CellOutcome:
        """Run one cell. A cell that outlives `timeout` (default: the cell limit), runs out of
        memory or kills its kernel is reported as such, and the kernel is restarted so that
        the next cell can run (its imports and definitions must be run again)."""
        timeout = self.limits.cell_timeout_s if timeout is None else timeout
        ooms = self.cgroup.oom_kills()
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False)
        outcome = CellOutcome("ok")
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._after_failure(outcome, "timeout", ooms)
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 1.0))
            except Exception:  # queue.Empty: nothing yet; is the kernel still alive?
                if not self.km.is_alive():
                    return self._after_failure(outcome, "died", ooms)
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    outcome.stdout += content["text"]
                else:
                    outcome.stderr += content["text"]
            elif kind == "error":
                outcome.status = "error"
                outcome.error = f"{content['ename']}: {content['evalue']}"
            elif kind in ("execute_result", "display_data"):
                outcome.outputs.append(content.get("data", {}))
            elif kind == "status" and content["execution_state"] == "idle":
                return outcome

    def _after_failure(self, outcome: CellOutcome, status: str, ooms: int) -> CellOutcome:
        outcome.status = "memory" if self.cgroup.oom_kills() > ooms else status
        self.restart()
        return outcome
