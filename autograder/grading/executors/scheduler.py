"""Scheduling grading jobs: a small executor interface, a local implementation, progress.

A job (references.ReferenceJob, student.StudentJob; jobs.py has what they share) has a pure
part, `function(slot, *arguments)`, which runs wherever the executor puts it and returns
data, and a client part, `finish`, which writes what came back into the grading folder
here. The executor decides where and when the pure part runs; the slot it holds meanwhile
is host-wide (autograder/grading/isolation/slots.py: each slot has its own sandbox uid, so
two kernels never share one, whichever grader started them).
`LocalExecutor` runs `workers` jobs at once on this machine; `DaskExecutor`
(autograder/grading/executors/cluster.py) runs them on the workers of a Dask cluster.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

from autograder.grading.isolation.slots import hold_slot


class Executor(Protocol):
    def share(self, value: object) -> object:
        """value, or a handle that stands for it as an argument of submit (sent once to
        every machine instead of once per job)."""

    def submit(self, fn: Callable[..., object], *args: object) -> Future:
        """Run fn(slot, *args) somewhere, holding a host-wide sandbox slot there; the future
        holds its result or exception."""

    def window(self) -> int:
        """How many jobs to keep submitted at once (their inputs are in memory meanwhile)."""

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None: ...


def with_slot(fn: Callable[..., object], *args: object) -> object:
    """fn(slot, *args) while holding a free host-wide slot of the machine it runs on."""
    with hold_slot() as slot:
        return fn(slot, *args)


class LocalExecutor:
    """`workers` threads on this machine, each job holding a host-wide slot
    (autograder/grading/isolation/slots.py) while it runs. Jobs spend their time in sandboxed kernel
    processes, so threads are enough."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade")

    def share(self, value: object) -> object:
        return value

    def submit(self, fn: Callable[..., object], *args: object) -> Future:
        return self._pool.submit(with_slot, fn, *args)

    def window(self) -> int:
        return 2 * self.workers

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def run_all(
    executor: Executor,
    jobs: Iterable,
    task: Callable[[object], tuple],
    finish: Callable[[object, object], object],
    description: str,
    progress: bool = True,
) -> list[tuple[object, object | BaseException]]:
    """Run every job: submit `task(job)` (a tuple function, *arguments) to the executor, a
    window of jobs at a time, and call `finish(job, what it returned or raised)` here as each
    one ends. Return (job, what finish returned or raised) in completion order, with a
    progress bar (count, rate, ETA) on stderr. Every job is in the list: whatever a job or
    its finish raised (SystemExit included) is its entry, and only an interrupt of the
    grader itself stops the loop."""
    from tqdm import tqdm

    waiting = list(jobs)[::-1]
    if not waiting:
        return []
    running: dict[Future, object] = {}
    done = []

    def outcome(call, *args):
        try:
            return call(*args)
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # reported by the caller, never silently a zero
            return error

    with tqdm(
        total=len(waiting), desc=description, unit="nb", disable=not progress, file=sys.stderr
    ) as bar:
        try:
            while waiting or running:
                while waiting and len(running) < max(1, executor.window()):
                    job = waiting.pop()
                    submitted = outcome(lambda job=job: executor.submit(*task(job)))
                    if isinstance(submitted, BaseException):
                        done.append((job, outcome(finish, job, submitted)))
                        bar.update()
                    else:
                        running[submitted] = job
                if not running:
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = running.pop(future)
                    done.append((job, outcome(finish, job, outcome(future.result))))
                    bar.set_postfix_str(getattr(job, "label", ""), refresh=False)
                    bar.update()
        except KeyboardInterrupt:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
    return done
