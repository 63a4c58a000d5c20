"""A Jupyter kernel in a sandbox, for running one student's notebook.

The kernel runs inside bubblewrap with no network (it talks to the grader over Unix sockets in its
scratch folder, Jupyter's `ipc` transport) and sees an allow-list of the host's files, read-only
(`mounts.py`): the system's programs and libraries, the Python installation, the course's helper
package and data files, nothing else. It may write only to its private /tmp (its working folder and
HOME) and /dev/shm, size-capped tmpfs; the socket folder is handed back to root once the kernel is
up. It runs as an unprivileged uid in a cgroup (v2, or v1: `cgroups.py`), so a memory blow-up or a
fork bomb hits its own limits, and `kill()` ends every process it started, double-forked daemons
included. Its environment is `sandbox.kernel_env`, none of the grader's other variables. A warm
kernel (`warm=`) is the same sandbox forked from a server that has imported its notebook's modules
(warm.py); a cold one starts from nothing.

That is the `sandbox` isolation level; the weaker ones (`sandbox.LEVELS`) drop parts of it.
`namespaces`: the same bubblewrap sandbox and uid, rlimits instead of the cgroup, and the kernel's
processes killed with its PID namespace, then by uid. `uid`: no bubblewrap; the kernel runs as the
slot's uid with rlimits, in a private working folder (also its HOME and TMPDIR), and every process
of the uid is killed when it ends. `none` runs a plain kernel with the same timeouts and output
caps and none of the isolation.

The grader's side of the connection is bounded too: no message the kernel sends may size an
allocation here. ZeroMQ drops a message over MAX_MESSAGE_BYTES (the cell that sent it fails) and
queues at most RECEIVE_QUEUE messages per socket; a message that is signed but malformed fails its
cell, not the grader.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from queue import Empty

import zmq
from jupyter_client import KernelManager

from autograder.course import REPO_ROOT, SAMPLES
from autograder.grading.inputs.names import file_stem
from autograder.grading.isolation import cgroups, folders, handshake, mounts
from autograder.grading.isolation import warm as warm_servers
from autograder.grading.isolation.messages import (
    MALFORMED,
    TOO_LARGE,
    CellOutcome,
    Limits,
    absorb,
    bounded_client,
    fail,
)
from autograder.grading.isolation.sandbox import (
    FIRST_SANDBOX_UID,
    ONE_THREAD,
    Isolation,
    bwrap_command,
    kernel_env,
)
from autograder.grading.isolation.slots import hold_slot
from autograder.grading.isolation.uids import kill_uid

QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # the kernel's own chatter
QUIET_POLLS_AFTER_REPLY = 3  # empty polls of iopub (1 s each) that end a cell after its reply


class SandboxedKernel:
    """with SandboxedKernel("ada-01") as kernel: kernel.run(code)

    worker: the host-wide slot (grading/isolation/slots.py) the caller holds; None takes a
    free one for the kernel's lifetime. The slot names the kernel's uid and cgroups.
    warm: the modules of the warm server (warm.py) to fork the kernel from, at the `sandbox`
    level; None, or a server that fails, starts it cold."""

    def __init__(
        self,
        name: str,
        worker: int | None = None,
        limits: Limits | None = None,
        read_only: list[Path] = (),
        hidden: list[Path] = (),
        isolation: Isolation = Isolation.SANDBOX,
        warm: list[str] | None = None,
    ):
        self.name = name
        self._slot = None
        if worker is None:
            self._slot = hold_slot()
            worker = self._slot.__enter__()
        self.uid = FIRST_SANDBOX_UID + worker
        self.limits = limits or Limits()
        self.read_only = [Path(p) for p in read_only]
        # e.g. the grading folder; always the sample submissions, which data/ holds beside the
        # data files and whose complete sample is a whole set of solutions
        self.hidden = [Path(p).resolve() for p in (*hidden, SAMPLES)]
        self.isolation = Isolation(isolation)
        stem = file_stem(name)  # a student id may be long or odd: file names are bounded
        group = f"{stem}-w{worker}-{os.getpid()}"  # unique on the machine: the slot is
        self.cgroup = (
            cgroups.create(group, self.limits.memory_bytes, self.limits.processes)
            if self.isolation is Isolation.SANDBOX
            else None
        )
        self.server = None
        if warm is not None and self.cgroup is not None:
            self.server = warm_servers.server(warm, self._view(), kernel_env("/tmp"))
        self._held = self.server  # released at the end (__exit__): the scratch is in its folder
        self.scratch = (
            self.server.scratch(f"w{worker}-")  # a short path: sockets' names are bounded
            if self.server is not None
            else folders.owned("kernel", stem)
        )
        self.forked: socket.socket | None = None  # a warm kernel's connection to its server
        self.work: Path | None = None  # the `uid` level's working folder
        self.km: KernelManager | None = None
        self.kc = None
        self._context: zmq.Context | None = None
        self._monitor: zmq.Socket | None = None  # iopub's disconnections: a message too large

    # ------------------------------------------------------------------ start and stop

    def _view(self) -> mounts.View:
        return mounts.kernel_view(self.limits.tmp_bytes, self.read_only, self.hidden)

    def _command(self, kernel_cmd: list[str]) -> list[str]:
        view = self._view()
        view.bind(self.scratch, writable=True)  # the connection file and the sockets
        for source, inside in mounts.own_cgroup_binds(self.cgroup):
            view.bind(source, inside)
        unset = ["--unsetenv", "JPY_PARENT_PID"]  # the grader's pid is invisible in here
        command = ["--chdir", "/tmp", *unset, "--", *self._drop(kernel_cmd)]
        sandbox = bwrap_command(command, user_namespace=False, view=view)
        if self.cgroup is None:  # namespaces: rlimits (in _drop) instead of a cgroup
            return sandbox
        # A root shell puts itself into the cgroups and execs bubblewrap, which builds the
        # sandbox as root and starts the kernel in it as the unprivileged uid; everything the
        # kernel starts inherits the cgroups.
        join = "; ".join(f"echo $$ > {f}" for f in self.cgroup.procs_files())
        return ["/bin/sh", "-c", f'{join}; exec "$@"', "sh", *sandbox]

    def _drop(self, kernel_cmd: list[str]) -> list[str]:
        """kernel_cmd as the slot's uid, with no groups; without a cgroup, under rlimits:
        address space per process, processes (threads) of the uid, no core files, and for the
        `uid` level, whose files are on disk, the size of each file it writes."""
        drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--"]
        if self.cgroup is not None:
            return [*drop, *kernel_cmd]
        limits = ["prlimit", f"--as={self.limits.memory_bytes}", "--core=0"]
        limits.append(f"--nproc={self.limits.processes}")
        if self.isolation is Isolation.UID:
            limits.append(f"--fsize={self.limits.tmp_bytes}")
        return [*limits, "--", *drop, *kernel_cmd]

    def _chown_scratch(self, uid: int) -> None:
        for path in [self.scratch, *self.scratch.iterdir()]:
            os.chown(path, uid, uid, follow_symlinks=False)

    def start(self) -> None:
        sandboxed = self

        class Manager(KernelManager):
            def format_kernel_cmd(self, extra_arguments=None):
                command = super().format_kernel_cmd(extra_arguments)
                if sandboxed.isolation is Isolation.UID:
                    return sandboxed._drop(command)
                return sandboxed._command(command)

        if self.isolation is Isolation.NONE:
            self.km = KernelManager(kernel_name="python3")
            env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
            env.update(ONE_THREAD, MPLBACKEND="agg", CS231N_DATA=str(REPO_ROOT / "data"))
            self.km.start_kernel(cwd=str(self.scratch), env=env, **QUIET)
        else:
            for path in self.scratch.iterdir():  # sockets of an earlier kernel
                path.unlink()
            self.km = Manager(
                kernel_name="python3", transport="ipc", ip=str(self.scratch / "kernel")
            )
            self.km.connection_file = str(self.scratch / "kernel.json")
            self.km.write_connection_file()  # before the kernel starts, so that it can read it
            self._chown_scratch(self.uid)  # the kernel creates its sockets in here
            if self.isolation is Isolation.UID:
                self.work = Path(tempfile.mkdtemp(prefix=f"{self.scratch.name}-work-"))
                os.chown(self.work, self.uid, self.uid)
                self.km.start_kernel(cwd=str(self.work), env=kernel_env(str(self.work)), **QUIET)
            elif not warm_servers.fork_kernel(self):
                self.km.start_kernel(env=kernel_env("/tmp"), **QUIET)
        self.kc = bounded_client(self.km)  # bounded sockets and decoding (messages.py)
        self._context = self.kc.context
        self.kc.start_channels()
        self._monitor = self.kc.iopub_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        if self.forked is not None:
            handshake.wait_ready(self.kc, self.forked, timeout=120)
        else:
            self.kc.wait_for_ready(timeout=120)
        if self.isolation is not Isolation.NONE:
            # The sockets exist: from now on the kernel may not write to this (disk-backed)
            # folder; its only writable place is its size-capped /tmp.
            self._chown_scratch(0)

    def _alive(self) -> bool:
        return handshake.alive(self.forked) if self.forked is not None else self.km.is_alive()

    def kill(self) -> None:
        """End the kernel and everything it started."""
        if self.kc is not None:
            self._close_monitor()
            self.kc.stop_channels()
            self.kc = None
        if self._context is not None:
            self._context.destroy(linger=0)
            self._context = None
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self.forked is not None:
            self.forked.close()  # the server's end of it goes with the kernel
            self.forked = None
        elif self.cgroup is None and self.km is not None and self.km.has_kernel:
            # namespaces: bubblewrap's end takes its PID namespace, and every process in it,
            # along; uid: the kernel alone. Then anything left of the uid is killed.
            self.km.shutdown_kernel(now=True)
        if self.isolation in (Isolation.NAMESPACES, Isolation.UID):
            kill_uid(self.uid)
        if self.km is not None:
            self.km.cleanup_resources()
            self.km = None
        if self.work is not None:
            subprocess.run(["rm", "-rf", str(self.work)], check=False)
            self.work = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def __enter__(self) -> SandboxedKernel:
        try:
            self.start()
        except BaseException:
            self.__exit__()  # its cgroup, scratch, slot and server are not left held
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self._held is not None:
            self._held.release()
            self._held = None
        if self._slot is not None:
            self._slot.__exit__(None, None, None)
            self._slot = None

    # ------------------------------------------------------------------------- running

    def run(self, code: str, timeout: float | None = None, keep: str | None = None) -> CellOutcome:
        """Run one cell; keep: a MIME type whose output is returned whole (up to
        Limits.result_bytes). A cell that outlives `timeout` (default: the cell limit), runs out of
        memory or kills its kernel is reported as such, and the kernel restarted for the next cell
        (its imports and definitions must run again). A message the grader cannot read, or one over
        MAX_MESSAGE_BYTES, ends the cell with status "error" and nothing kept."""
        timeout = self.limits.cell_timeout_s if timeout is None else timeout
        ooms = self._oom_kills()
        self._dropped()  # disconnections before this cell are not its own
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False)
        outcome = CellOutcome("ok")
        deadline = time.monotonic() + timeout
        quiet_since_reply = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if quiet_since_reply:  # it had finished: its idle status was lost
                    return self._checked(outcome)
                return self._after_failure(outcome, "timeout", ooms)
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 1.0))
            except Empty:  # nothing yet: is the kernel still alive, the cell finished?
                if not self._alive():
                    return self._after_failure(outcome, "died", ooms)
                if quiet_since_reply or self._replied(msg_id):
                    # iopub (the kernel's IO thread) may lag the reply on a busy machine: only
                    # silence after it means a lost idle status (a flood filled the queue)
                    quiet_since_reply += 1
                    if quiet_since_reply > QUIET_POLLS_AFTER_REPLY:
                        return self._checked(outcome)
                continue
            except zmq.ZMQError:  # the socket itself failed: nothing more comes on it, and
                # retrying would spin until the deadline; a fresh kernel gets fresh sockets
                return self._after_failure(outcome, "died", ooms)
            except Exception:  # a bad signature, a header that is not JSON: that message dropped
                fail(outcome, MALFORMED)
                continue
            try:
                if absorb(outcome, msg, msg_id, keep, self.limits):
                    return self._checked(outcome)
            except (KeyError, TypeError, AttributeError, ValueError):
                fail(outcome, MALFORMED)

    def _checked(self, outcome: CellOutcome) -> CellOutcome:
        if self._dropped():
            fail(outcome, TOO_LARGE)
            self._reconnect_iopub()
        return outcome

    def _reconnect_iopub(self) -> None:
        """A fresh iopub connection: ZeroMQ ends one that carried a message over the cap for
        good (a protocol error is not retried), and the kernel, its state intact, goes on."""
        self._close_monitor()
        self.kc.iopub_channel.close()
        self.kc._iopub_channel = None  # the client's property connects a new one on next use
        self._monitor = self.kc.iopub_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.kc.wait_for_ready(timeout=30)  # a round trip: the subscription has arrived

    def _close_monitor(self) -> None:
        if self._monitor is not None:
            self.kc.iopub_channel.socket.disable_monitor()
            self._monitor.close(linger=0)
            self._monitor = None

    def _dropped(self) -> bool:
        """Whether iopub lost its connection since the last call: ZeroMQ ends the connection
        on a message over MAX_MESSAGE_BYTES."""
        dropped = False
        while self._monitor is not None and self._monitor.poll(0):
            self._monitor.recv_multipart()
            dropped = True
        return dropped

    def _replied(self, msg_id: str) -> bool:
        """Whether the kernel's execute_reply for msg_id has come (other replies are read and
        dropped, so the shell queue never fills)."""
        replied = False
        while self.kc.shell_channel.msg_ready():
            try:
                reply = self.kc.get_shell_msg(timeout=0)
            except Exception:  # unreadable: not the reply we wait for
                continue
            parent = reply.get("parent_header")
            replied = replied or (isinstance(parent, dict) and parent.get("msg_id") == msg_id)
        return replied

    def _oom_kills(self) -> int:
        return self.cgroup.oom_kills() if self.cgroup is not None else 0

    def _after_failure(self, outcome: CellOutcome, status: str, ooms: int) -> CellOutcome:
        outcome.status = "memory" if self._oom_kills() > ooms else status
        self.restart()
        return outcome
