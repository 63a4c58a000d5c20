"""Scheduling grading jobs: a small executor interface, a local implementation, progress.

A job is a callable `job(out, settings, worker)` (autograder/grading/jobs.py). The executor decides
where and when it runs and which worker slot it gets (each slot has its own sandbox uid, so
two kernels never share one). `LocalExecutor` runs `workers` jobs at once on this machine;
a distributed engine implements the same `submit`/`shutdown` and returns futures.
"""

from __future__ import annotations

import queue
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Protocol


class Executor(Protocol):
    def submit(self, fn: Callable[[int], object]) -> Future:
        """Run fn(worker_slot) somewhere; the future holds its result or exception."""

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None: ...


class LocalExecutor:
    """Threads on this machine, each job holding one of `workers` slots while it runs. Jobs
    spend their time in sandboxed kernel processes, so threads are enough."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade")
        self._slots: queue.Queue[int] = queue.Queue()
        for slot in range(workers):
            self._slots.put(slot)

    def submit(self, fn: Callable[[int], object]) -> Future:
        def with_slot():
            slot = self._slots.get()
            try:
                return fn(slot)
            finally:
                self._slots.put(slot)

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
