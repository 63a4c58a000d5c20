"""cs231n-grade on a real Dask cluster on 127.0.0.1: a `dask scheduler` and `dask worker`
processes of this environment, grading real notebooks in real sandboxes; the results must be
those of local grading, with a worker killed mid-batch or one that cannot sandbox."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import NEEDS_SANDBOX, with_references
from lab_server import free_port

from autograder.course import SAMPLES
from autograder.grading.isolation.zygote import KERNEL_NAME

pytestmark = [pytest.mark.xdist_group("dask")]
CLUSTER_MARKS = [pytest.mark.slow, NEEDS_SANDBOX]  # the tests that grade on a cluster


def on_a_cluster(test):
    for mark in CLUSTER_MARKS:
        test = mark(test)
    return test


BIN = Path(sys.executable).parent
GRADE = [str(BIN / "cs231n-grade")]
DASK = str(BIN / "dask")
NOTEBOOKS = ["01_numpy_gradients", "04_pytorch_autograd"]
REPO = Path(__file__).resolve().parents[1]


class Cluster:
    """A scheduler and workers, each `dask` process in a session of its own (a worker is a
    nanny and its worker process: killing the session kills both, and the kernels die with
    their parent)."""

    def __init__(self, root: Path):
        self.root = root
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.env = {**os.environ, "PYTHONPATH": str(REPO)}  # the scheduler unpickles tasks too
        self.workers: list[subprocess.Popen] = []
        self.scheduler = self._start(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1],
             "--no-dashboard"], "scheduler", self.env,
        )  # fmt: skip
        self._wait(lambda: socket.create_connection(("127.0.0.1", self.port)).close())

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def _start(self, command: list[str], name: str, env: dict) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "w")
        return subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip

    @staticmethod
    def _wait(check, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return check()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def add_worker(self, env: dict | None = None) -> subprocess.Popen:
        worker = self._start(
            [DASK, "worker", self.address, "--nthreads", "1", "--host", "127.0.0.1",
             "--no-dashboard"], f"worker{len(self.workers)}", env or self.env,
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(count, timeout=120)

    def executed(self) -> dict[int, int]:
        """Tasks each worker ran, by the pid of its nanny (the process this test started)."""
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            counts = client.run(lambda dask_worker: dask_worker.state.executed_count)
            nannies = client.run(lambda: os.getppid())
        return {nannies[address]: count for address, count in counts.items()}

    def kill(self, process: subprocess.Popen) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def close(self) -> None:
        for process in [*self.workers, self.scheduler]:
            self.kill(process)


@pytest.fixture
def cluster(tmp_path):
    running = Cluster(tmp_path)
    yield running
    running.close()


def grade(out: Path, *options: str, notebooks=NOTEBOOKS, timeout: float = 1200):
    return subprocess.run(
        [*GRADE, str(SAMPLES), "--out", str(out), "--notebooks", *notebooks, "--no-progress",
         *options], capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def rows(path: Path, notebooks=NOTEBOOKS) -> list[dict]:
    with open(path, newline="") as file:
        return [r for r in csv.DictReader(file) if r.get("notebook", notebooks[0]) in notebooks]


def results(out: Path) -> dict[str, dict]:
    """Every result file, without its run times (which no two runs share)."""
    found = {}
    for path in sorted(out.glob("results/*/*.json")):
        data = json.loads(path.read_text())
        data.pop("seconds")
        for cell in data["cells"]:
            cell.pop("seconds")
        found[str(path.relative_to(out))] = data
    return found


def test_a_worker_of_another_grader_or_course_refuses():
    """Does the workers' check refuse a client whose grader key or solution differs from
    this checkout's, saying which, and accept the same keys?"""
    from autograder.grading.executors.cluster import Expected, refusal
    from autograder.grading.executors.jobs import grader_key, solution_key

    notebook = NOTEBOOKS[0]
    same = Expected(grader_key(), {notebook: solution_key(notebook)}, isolation="none")
    assert refusal(same) is None
    other = Expected("0" * 64, same.solution_keys, isolation="none")
    assert refusal(other).startswith("another grader version (worker ")
    assert other.resource != same.resource  # its tasks could not run here anyway
    changed = Expected(same.grader_key, {notebook: "0" * 64}, isolation="none")
    assert refusal(changed) == f"another course: the solution or release of {notebook} differs here"


@pytest.fixture(scope="module")
def on_cluster(tmp_path_factory):
    """The samples' notebooks 01 and 04 graded on a cluster of two workers, the references
    included (computed once here for the module)."""
    root = tmp_path_factory.mktemp("dask")
    running = Cluster(root)
    try:
        running.add_worker(), running.add_worker()
        running.wait_for_workers(2)
        out = root / "out"
        run = grade(out, "--scheduler", running.address)
        executed = running.executed()
    finally:
        running.close()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return run, out, executed


@on_a_cluster
def test_a_cluster_grades_as_local_grading_does(on_cluster, tmp_path):
    """Graded by two Dask workers, do the samples get expected_scores.csv, and the same
    scores.csv, grades.csv and result files as local grading gives them?"""
    run, out, executed = on_cluster
    assert "grading on 2 worker(s)" in run.stderr
    assert len(executed) == 2 and all(count > 0 for count in executed.values()), executed
    expected = {(r["student_id"], r["notebook"], r["question"]): float(r["points"])
                for r in rows(SAMPLES / "expected_scores.csv")}  # fmt: skip
    got = {(r["student_id"], r["notebook"], r["question"]): float(r["points"])
           for r in rows(out / "scores.csv") if r["status"] == "ok"}  # fmt: skip
    assert got == expected and expected
    local = with_references(tmp_path / "local", out)
    here = grade(local, "--workers", "2")
    assert here.returncode == 0, here.stdout[-4000:] + here.stderr[-4000:]
    for name in ("scores.csv", "grades.csv", "grades_by_notebook.csv", "question_stats.csv"):
        assert (out / name).read_text() == (local / name).read_text(), name
    assert results(out) == results(local) and len(results(out)) == 6


@on_a_cluster
def test_a_worker_killed_mid_batch_costs_only_a_retry(on_cluster, cluster, tmp_path):
    """SIGKILL to one worker while it runs a notebook: does the batch still end with the
    results of the uninterrupted run, no grader error, and its notebook graded elsewhere?"""
    import psutil

    _, graded, _ = on_cluster
    victim, other = cluster.add_worker(), cluster.add_worker()
    cluster.wait_for_workers(2)
    out = with_references(tmp_path / "out", graded)
    command = [*GRADE, str(SAMPLES), "--out", str(out), "--notebooks", *NOTEBOOKS,
               "--no-progress", "--scheduler", cluster.address]  # fmt: skip
    client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def running_a_kernel(worker) -> bool:
        """A kernel, not the sandbox probe: a cold one is bubblewrap with the setpriv of a
        sandbox uid, a warm one a fork its server named (zygote.py)."""
        try:
            children = psutil.Process(worker.pid).children(recursive=True)
            return any(
                c.name() == KERNEL_NAME or (c.name() == "bwrap" and "setpriv" in c.cmdline())
                for c in children
            )
        except psutil.Error:
            return False

    deadline = time.monotonic() + 600
    while not running_a_kernel(victim) and time.monotonic() < deadline:
        assert client.poll() is None, client.stdout.read()
        time.sleep(0.1)
    finished_before = len(list(out.glob("results/*/*.json")))
    cluster.kill(victim)
    output = client.communicate(timeout=1200)[0]
    assert client.returncode == 0, output[-4000:]
    assert finished_before < 6, "killed too late to test a retry"
    assert "grader_error" not in output and ", 0 grader errors;" in output, output[-4000:]
    for name in ("scores.csv", "grades.csv"):
        assert (out / name).read_text() == (graded / name).read_text(), name
    assert results(out) == results(graded)
    executed = cluster.executed()
    assert list(executed) == [other.pid] and executed[other.pid] > 0, executed


@on_a_cluster
def test_a_worker_without_a_sandbox_refuses_and_the_other_grades_all(on_cluster, cluster, tmp_path):
    """A worker whose PATH has no bubblewrap (its sandbox cannot start): does it refuse the
    jobs, saying so, run none of them, while the other worker grades everything right?"""
    _, graded, _ = on_cluster
    no_bwrap = {**cluster.env, "PATH": str(BIN)}  # the venv's commands, not /usr/bin/bwrap
    assert shutil.which("bwrap", path=no_bwrap["PATH"]) is None
    refusing, good = cluster.add_worker(no_bwrap), cluster.add_worker()
    cluster.wait_for_workers(2)
    out = with_references(tmp_path / "out", graded)
    run = grade(out, "--scheduler", cluster.address, notebooks=NOTEBOOKS[:1])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    refusals = [line for line in run.stderr.splitlines() if "refuses these jobs" in line]
    assert len(refusals) == 1, run.stderr
    assert "no working sandbox here (isolation 'sandbox'): bubblewrap: not installed" in refusals[0]
    assert "grading on 1 worker(s)" in run.stderr
    executed = cluster.executed()
    # 3 notebooks and the task that holds the references
    assert executed[refusing.pid] == 0 and executed[good.pid] == 4, executed
    assert rows(out / "scores.csv") == rows(graded / "scores.csv", NOTEBOOKS[:1])
    only_01 = {k: v for k, v in results(graded).items() if NOTEBOOKS[0] in k}
    assert results(out) == only_01
