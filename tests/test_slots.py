"""Host-wide sandbox slots: two holders never share one, whichever process they are in, and
a holder killed with -9 frees its slot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from autograder.grading.isolation.slots import hold_slot

HOLD = """
import sys, time
from autograder.grading.isolation.slots import hold_slot
with hold_slot() as slot:
    print(slot, flush=True)
    time.sleep(600)
"""


@pytest.fixture
def slot_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CS231N_SLOT_DIR", str(tmp_path))
    return tmp_path


def holder() -> tuple[subprocess.Popen, int]:
    """Another process (another grader) holding a slot; returns it and its slot."""
    process = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": os.getcwd()})  # fmt: skip
    return process, int(process.stdout.readline())


def test_holders_in_one_process_get_different_slots(slot_dir):
    with hold_slot() as first, hold_slot() as second, hold_slot() as third:
        assert len({first, second, third}) == 3
    with hold_slot() as again:
        assert again == first  # freed on leaving


def test_another_process_slot_is_not_taken_and_is_freed_when_it_is_killed(slot_dir):
    process, theirs = holder()
    try:
        with hold_slot() as mine:
            assert mine != theirs
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        with hold_slot() as mine:
            assert mine == theirs  # the lowest slot, free again
    finally:
        process.kill()


def test_a_holder_waits_while_every_slot_is_taken(slot_dir):
    process, theirs = holder()
    got = []
    waiter = threading.Thread(target=lambda: got.extend(_take_one(slots=1)), daemon=True)
    try:
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive() and got == []  # slot 0 is the other process's
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        waiter.join(timeout=30)
        assert got == [theirs]
    finally:
        process.kill()


def _take_one(slots: int) -> list[int]:
    with hold_slot(slots=slots, poll_s=0.05) as slot:
        return [slot]
