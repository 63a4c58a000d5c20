"""Scheduling grading jobs: a small executor interface, a local implementation, progress.

A job is a callable `job(out, settings, worker)` (autograder/grading/jobs.py). The executor
decides where and when it runs; the slot it gets is host-wide (each slot has its own sandbox
uid, so two kernels never share one, whichever grader started them). `LocalExecutor` runs
`workers` jobs at once on this machine; a distributed engine implements the same
`submit`/`shutdown` and returns futures.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Protocol

from autograder.grading.slots import hold_slot


class Executor(Protocol):
    def submit(self, fn: Callable[[int], object]) -> Future:
        """Run fn(worker_slot) somewhere; the future holds its result or exception."""

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None: ...


class LocalExecutor:
    """`workers` threads on this machine, each job holding a host-wide slot
    (autograder/grading/slots.py) while it runs. Jobs spend their time in sandboxed kernel
    processes, so threads are enough."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade")

    def submit(self, fn: Callable[[int], object]) -> Future:
        def with_slot():
            with hold_slot() as slot:
                return fn(slot)

        return self._pool.submit(with_slot)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def run_all(
    executor: Executor,
    jobs: Iterable,
    call: Callable[[object, int], object],
    description: str,
    progress: bool = True,
) -> list[tuple[object, object | BaseException]]:
    """Run every job; return (job, result or exception) in completion order, with a progress
    bar (count, rate, ETA) on stderr. Every job is in the list: whatever a job raised (SystemExit
    included) is its entry, and only an interrupt of the grader itself stops the loop."""
    from tqdm import tqdm

    jobs = list(jobs)
    if not jobs:
        return []
    futures = {executor.submit(lambda slot, job=job: call(job, slot)): job for job in jobs}
    done = []
    with tqdm(
        total=len(jobs), desc=description, unit="nb", disable=not progress, file=sys.stderr
    ) as bar:
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    done.append((job, future.result()))
                except KeyboardInterrupt:
                    raise
                except BaseException as error:  # reported by the caller, never silently a zero
                    done.append((job, error))
                bar.set_postfix_str(getattr(job, "label", ""), refresh=False)
                bar.update()
        except KeyboardInterrupt:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
    return done
