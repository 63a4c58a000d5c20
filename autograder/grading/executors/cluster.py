"""Grading on a Dask distributed cluster: `cs231n-grade ... --scheduler tcp://HOST:PORT`.

The workers are plain `dask worker tcp://HOST:PORT --nthreads N` processes on machines with
this repository's checkout and environment. The client (cs231n-grade) registers `GraderCheck`,
a worker plugin that checks at each worker's start (and on every worker already there) that
the sandbox works on that machine and that the worker grades with the client's grader and
course (jobs.grader_key and the notebooks' solution keys). A worker that passes offers a
resource named after the grader's key, one unit per thread; every grading task asks for one
unit, so only accepted workers of this very grader run them, at most `--nthreads` at a time.
A worker that fails says why (an event on TOPIC, which the client prints) and never gets a
task. Each task holds a host-wide sandbox slot on its worker while it runs (slots.py).

Tasks of a worker that dies are run again elsewhere by the scheduler, up to its
`distributed.scheduler.allowed-failures` times (3 by default); past that the client gets
KilledWorker, which student.StudentJob.finish records as a grader_error that a rerun retries.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from distributed import Client, WorkerPlugin

from autograder.grading.executors.scheduler import with_slot

TOPIC = "cs231n-grade"


@dataclass(frozen=True)
class Expected:
    """What the client grades with: a worker must match it."""

    grader_key: str
    solution_keys: dict[str, str]  # notebook -> jobs.solution_key
    isolation: str  # the level the client grades at (sandbox.Isolation); "none": no sandbox

    @property
    def resource(self) -> str:
        return f"cs231n-grade-{self.grader_key[:16]}"


def refusal(expected: Expected) -> str | None:
    """Why this machine must not grade for the client (None when it may): the sandbox does not
    work here, or this checkout grades differently from the client's."""
    from autograder.grading.executors import jobs
    from autograder.grading.isolation import sandbox
    from autograder.grading.isolation.cgroups import remove_stale_cgroups

    level = sandbox.Isolation(expected.isolation)
    if level is not sandbox.Isolation.NONE:
        capabilities = sandbox.probe()
        missing = [c for c in capabilities if c.name in sandbox.missing(capabilities, level)]
        if missing:
            return f"no working sandbox here (isolation '{level}'): " + "; ".join(
                f"{c.name}: {c.detail}" for c in missing
            )
    mine = jobs.grader_key()
    if mine != expected.grader_key:
        return (
            f"another grader version (worker {mine[:12]}, client {expected.grader_key[:12]}): "
            "the grader's sources or the framework versions differ from the client's"
        )
    for notebook, key in expected.solution_keys.items():
        try:
            differs = jobs.solution_key(notebook) != key
        except OSError as error:
            return f"another course: {notebook} cannot be read here ({error.strerror})"
        if differs:
            return f"another course: the solution or release of {notebook} differs here"
    if level is not sandbox.Isolation.NONE:
        remove_stale_cgroups()  # of graders on this machine that died with kernels running
    return None


class GraderCheck(WorkerPlugin):
    """Accepts a worker for the client's grading jobs, or refuses it, saying why."""

    def __init__(self, expected: Expected):
        self.expected = expected
        self.verdict: str | None = "not checked yet"

    async def setup(self, worker) -> None:
        from distributed.core import Status

        # Paused while it checks, so it takes no task meanwhile; back to running, it makes the
        # scheduler look again at the tasks that wait for a worker with its new resource (a
        # resource added to a running worker alone does not).
        pause = worker.status == Status.running
        if pause:
            worker.status = Status.paused
        try:
            self.verdict = await asyncio.to_thread(refusal, self.expected)
        except Exception as error:  # the check itself failed: refuse, never grade unchecked
            self.verdict = f"the check failed: {type(error).__name__}: {error}"
        try:
            if self.verdict is None:
                await worker.set_resources(**{self.expected.resource: worker.state.nthreads})
        finally:
            if pause and worker.status == Status.paused:
                worker.status = Status.running
        worker.log_event(TOPIC, {"worker": worker.address, "refused": self.verdict})


class Opaque:
    """A value Dask passes as it is, without looking inside for tasks (references are large)."""

    def __init__(self, value: object):
        self.value = value

    def unwrap(self) -> object:
        return self.value


def _verdict(dask_worker, name: str) -> str | None:
    plugin = dask_worker.plugins.get(name)
    return plugin.verdict if plugin is not None else "the check did not run"


class DaskExecutor:
    """The Executor of scheduler.py on a Dask cluster's accepted workers."""

    def __init__(self, address: str, expected: Expected, log=sys.stderr):
        self.expected = expected
        self.log = log
        self.client = Client(address, timeout="60s")
        self._known: set[str] = set()
        self._lock = threading.Lock()
        self._futures: dict[object, Future] = {}
        self._window = (-1e9, 64)
        self.client.subscribe_topic(TOPIC, self._on_event)
        name = expected.resource
        for attempt in range(3):  # a worker that dies meanwhile fails the call: ask again
            try:
                self.client.register_plugin(GraderCheck(expected), name=name)
                break
            except OSError:
                if attempt == 2:
                    raise
                time.sleep(1)
        verdicts = {
            worker: verdict if not isinstance(verdict, BaseException) else f"unreachable: {verdict}"
            for worker, verdict in self.client.run(_verdict, name=name, on_error="return").items()
        }
        for worker, verdict in sorted(verdicts.items()):
            self._report(worker, verdict)
        accepted = [a for a, v in verdicts.items() if v is None]
        if verdicts and not accepted:
            self.client.close()
            raise RuntimeError(f"no worker of {address} accepts these jobs (reasons above)")
        if not verdicts:
            print(f"cs231n-grade: no workers at {address} yet; waiting for some", file=log)
        else:
            threads = self.client.nthreads()
            print(
                f"cs231n-grade: grading on {len(accepted)} worker(s) of {address}, "
                f"{sum(threads.get(a, 0) for a in accepted)} thread(s)",
                file=log,
            )

    def _report(self, worker: str, verdict: str | None) -> None:
        with self._lock:
            if worker in self._known:
                return
            self._known.add(worker)
        if verdict is not None:
            print(f"cs231n-grade: worker {worker} refuses these jobs: {verdict}", file=self.log)

    def _on_event(self, event) -> None:
        _, message = event
        self._report(message["worker"], message["refused"])

    def share(self, value: object) -> object:
        # A task that returns the value, not scattered data: the workers fetch its result
        # from each other, and the scheduler runs it again if every copy is lost with its
        # workers (scattered data would be gone for good, and Dask keeps one copy of it).
        resources = {self.expected.resource: 1}  # on accepted workers only, as every task
        return self.client.submit(Opaque.unwrap, Opaque(value), pure=False, resources=resources)

    def submit(self, fn, *args) -> Future:
        future = self.client.submit(
            with_slot, fn, *args, resources={self.expected.resource: 1}, pure=False
        )
        bridge = Future()
        bridge.set_running_or_notify_cancel()
        self._futures[future.key] = future  # the result stays on the cluster until it is read

        def settle(done):
            try:
                bridge.set_result(done.result())
            except BaseException as error:  # KilledWorker, CancelledError, the task's own
                bridge.set_exception(error)
            finally:
                self._futures.pop(done.key, None)

        future.add_done_callback(settle)
        return bridge

    def window(self) -> int:
        now = time.monotonic()
        if now - self._window[0] > 5:  # the cluster may grow or shrink; ask now and then
            self._window = (now, max(64, 2 * sum(self.client.nthreads().values())))
        return self._window[1]

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        if cancel_futures and self._futures:
            self.client.cancel(list(self._futures.values()))
        self.client.close()
