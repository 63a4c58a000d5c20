"""What a kernel says, and how much of it the grader keeps.

The student's kernel chose every message it sends. The grader's client refuses messages over
MAX_MESSAGE_BYTES and queues at most RECEIVE_QUEUE per socket (bounded_context), decodes a
message only within answers.py's bounds on nesting and values (bounded_unpack: 60 MiB of
`[],` would decode to gigabytes of empty lists); absorb()
keeps a bounded part of each cell's output (Limits) and treats a message of the wrong shape as
that cell's failure, never the grader's. Imports nothing that runs in the kernel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import zmq
from jupyter_client import KernelClient, KernelManager

from autograder.grading.judging.answers import within_bounds

MAX_MESSAGE_BYTES = 64 * 2**20  # per message frame; above Limits.result_bytes and its escaping
RECEIVE_QUEUE = 8  # messages queued per socket: the grader's memory is bounded by their product
MALFORMED = "the kernel sent a message the grader cannot read"
TOO_LARGE = f"an output was larger than the grader accepts ({MAX_MESSAGE_BYTES >> 20} MiB)"
GRADER_REASONS = (MALFORMED, TOO_LARGE)  # a cell failed by the grader stays failed


def bounded_context() -> zmq.Context:
    """A ZeroMQ context whose sockets refuse messages over MAX_MESSAGE_BYTES and queue at most
    RECEIVE_QUEUE of them; set on the context, the options apply before any socket connects."""
    context = zmq.Context()
    context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    context.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE)
    return context


def bounded_client(manager: KernelManager) -> KernelClient:
    """A client of the kernel `manager` runs, on a bounded_context, that decodes messages with
    bounded_unpack."""
    client = manager.client(context=bounded_context())
    client.session.unpack = bounded_unpack
    return client


def bounded_unpack(data: bytes | str) -> object:
    """jupyter_client's message unpacker (Session.unpack) with a bound: a frame nested or
    counted past answers.within_bounds raises ValueError before it is decoded, and the
    kernel's client fails that cell as MALFORMED."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if not within_bounds(raw):
        raise ValueError("a message nested too deep or holding too many values")
    return json.loads(raw.decode("utf-8", "replace"))


@dataclass
class Limits:
    memory_bytes: int = 4 * 2**30
    processes: int = 256
    cell_timeout_s: float = 120.0
    tmp_bytes: int = 512 * 2**20  # the kernel's private, writable /tmp
    output_bytes: int = 64 * 2**10  # stdout (and stderr) kept per cell; the rest is dropped
    result_bytes: int = 32 * 2**20  # data kept on the MIME type a caller asked for


@dataclass
class CellOutcome:
    status: str  # "ok", "error", "timeout", "died" or "memory"
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # "Name: message" of an exception the cell raised
    result: str | None = None  # the last output on the MIME type run() was asked to keep


def fail(outcome: CellOutcome, why: str) -> None:
    """Mark a cell failed for a reason of the grader's own; nothing it returned is used."""
    outcome.status = "error"
    outcome.error = why
    outcome.result = None


def absorb(outcome: CellOutcome, msg: dict, msg_id: str, keep: str | None, limits: Limits) -> bool:
    """Add one iopub message to the outcome of cell msg_id; True when the cell has finished.
    Raises KeyError, TypeError, AttributeError or ValueError for a malformed message."""
    parent = msg["parent_header"]
    if not isinstance(parent, dict):
        raise TypeError("parent_header is not a mapping")
    if parent.get("msg_id") != msg_id:
        return False
    kind, content = msg["msg_type"], msg["content"]
    if not isinstance(content, dict):
        raise TypeError("content is not a mapping")
    kept = limits.output_bytes
    if kind == "stream":  # a flood is drained but not kept
        stream = "stdout" if content["name"] == "stdout" else "stderr"
        text, more = getattr(outcome, stream), content["text"]
        if not isinstance(more, str):
            raise TypeError("stream text is not text")
        if len(text) < kept:
            setattr(outcome, stream, text + more[: kept - len(text)])
    elif kind == "error":
        if outcome.error not in GRADER_REASONS:
            outcome.status = "error"
            outcome.error = f"{content['ename']}: {content['evalue']}"[:kept]
    elif kind in ("execute_result", "display_data"):
        data = content.get("data", {})
        if not isinstance(data, dict):
            raise TypeError("data is not a mapping")
        value = data.get(keep) if keep is not None else None
        if isinstance(value, str) and len(value) <= limits.result_bytes:
            if outcome.error not in GRADER_REASONS:
                outcome.result = value  # one document per cell: the last replaces the others
    elif kind == "status" and content["execution_state"] == "idle":
        return True
    return False
