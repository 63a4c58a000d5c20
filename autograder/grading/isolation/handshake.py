"""A forked kernel's first moments, from the grader's side: whether it still runs, and when it
is ready for a first cell (warm.py forks it; kernel.py connects to it). A cold kernel has
jupyter_client's own KernelManager for both."""

from __future__ import annotations

import select
import socket
import time
from queue import Empty


def alive(connection: socket.socket) -> bool:
    """Whether the kernel behind a fork's connection runs: its end closes the connection
    (after one line saying how it ended)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
    except (OSError, ValueError):  # closed here
        return False
    return not readable


def wait_ready(client, connection: socket.socket, timeout: float) -> None:
    """Wait until the forked kernel answers kernel_info (jupyter_client's wait_for_ready asks
    a manager that did not start this kernel); a kernel that ends first raises at once."""
    deadline = time.monotonic() + timeout
    asked = client.kernel_info()
    while time.monotonic() < deadline:
        if not alive(connection):
            raise RuntimeError("the warm kernel ended before it was ready")
        try:
            reply = client.get_shell_msg(timeout=0.5)
        except Empty:
            continue
        if reply.get("parent_header", {}).get("msg_id") == asked:
            drain_start(client, asked)
            return
    raise RuntimeError(f"the warm kernel was not ready in {timeout:.0f} s")


def drain_start(client, asked: str) -> None:
    """Read what the kernel said on iopub while starting, up to the idle status that ends the
    kernel_info request `asked`. Where iopub connected after that status went out (its
    iopub_welcome comes late), one more request's status ends it; where no welcome comes
    (an older kernel), 0.2 s of silence does, as jupyter_client waits at every start."""
    while True:
        try:
            message = client.get_iopub_msg(timeout=0.2)
        except Empty:
            return
        if message.get("msg_type") == "iopub_welcome":
            asked = client.kernel_info()  # its reply is read and dropped by the first run
        idle = message["content"].get("execution_state") == "idle"
        if idle and message.get("parent_header", {}).get("msg_id") == asked:
            return
