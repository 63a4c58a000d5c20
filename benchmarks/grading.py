"""Plain `nbgrader autograde` against `cs231n-grade`, locally and on Dask, in one run.

    .venv/bin/python benchmarks/grading.py [--repeat 3] [--notebooks 01_numpy_gradients ...]
                                           [--copies 2] [--ways "sandbox x2" "dask x2" ...]

Each repetition grades copies of the sample submissions (data/sample_submissions) these ways
(all by default, or those --ways names), in turn, each into a fresh folder:
  nbgrader       `nbgrader autograde` of the whole class: one notebook after another
  sandbox x1     cs231n-grade --workers 1
  sandbox x2     cs231n-grade --workers 2 (kernels forked from warm servers, the default)
  cold x2        cs231n-grade --workers 2 --cold-kernels (every kernel started cold)
  no reasons x2  cs231n-grade --workers 2 --no-reasons (no second run for failed checks)
  no sandbox x1  cs231n-grade --workers 1 --unsafe-run-student-code-without-sandbox
  dask x1        cs231n-grade --scheduler ADDRESS, a local Dask cluster of 1 worker (1 thread)
  dask x2        the same on a cluster of 2 workers (1 thread each)
The two clusters (`dask scheduler` and `dask worker` processes of this environment on
127.0.0.1) are started once, before the first repetition, and stay up; a Dask run's time
includes connecting and the workers' check (cluster.GraderCheck), as an instructor's does.
cs231n-grade's references (two runs of each solution) are computed once beforehand and
copied in, as they are after the first batch of a term; their cost is reported apart. Both
graders start from a prepared course folder (nbgrader generate_assignment, untimed).
Reported: medians of the wall times, throughput in notebooks per minute and its ratios,
isolation overhead per notebook (sandbox x1 minus no sandbox x1, per notebook), Dask's
overhead per notebook (dask x2 minus sandbox x2, per notebook), scaling from one to two
workers (local and Dask), and whether every autograded score of the graders agrees.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autograder.course import ASSIGNMENT, SAMPLES, notebook_names  # noqa: E402
from autograder.grading.cli import UNSAFE_FLAG  # noqa: E402
from autograder.nbgrader_course import (
    folder,  # noqa: E402
)
from autograder.nbgrader_course.apps import run_nbgrader  # noqa: E402
from autograder.nbgrader_course.baseline import read_scores  # noqa: E402

GRADE = str(Path(sys.executable).with_name("cs231n-grade"))
DASK = str(Path(sys.executable).with_name("dask"))
REPO = Path(__file__).resolve().parents[1]
WAYS = [
    "nbgrader", "sandbox x1", "sandbox x2", "cold x2", "no reasons x2", "no sandbox x1",
    "dask x1", "dask x2",
]  # fmt: skip


@contextlib.contextmanager
def dask_cluster(workers: int, logs: Path):
    """A `dask scheduler` and `workers` one-thread `dask worker` processes on 127.0.0.1;
    yields the scheduler's address once every worker has joined."""
    from distributed import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the scheduler unpickles the tasks too
    commands = [[DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [[DASK, "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                  "--no-dashboard"]] * workers  # fmt: skip
    processes = []
    try:
        for index, command in enumerate(commands):
            log = open(logs / f"dask-{port}-{index}.log", "w")
            process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            processes.append(process)
            if index == 0:
                time.sleep(2)
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def copy_submissions(dest: Path, notebooks: list[str], copies: int) -> Path:
    """`copies` students like each sample (complete-1, complete-2, ...): a class in small."""
    for student in sorted(p for p in SAMPLES.iterdir() if p.is_dir()):
        for copy in range(1, copies + 1):
            folder = dest / f"{student.name}-{copy}"
            folder.mkdir(parents=True)
            for name in notebooks:
                shutil.copyfile(student / f"{name}.ipynb", folder / f"{name}.ipynb")
    return dest


def nbgrader_run(submissions: Path, out: Path) -> tuple[float, dict]:
    folder.prepare(out)  # untimed: release generation is not grading
    for student in submissions.iterdir():
        shutil.copytree(student, out / "submitted" / student.name / ASSIGNMENT)
    start = time.perf_counter()
    run_nbgrader(out, "autograde", ASSIGNMENT, "--force")
    seconds = time.perf_counter() - start
    scores = {
        (s.student_id, s.notebook, s.question): s.points
        for s in read_scores(out)
        if s.graded_by == "autograder"
        and (submissions / s.student_id / f"{s.notebook}.ipynb").exists()
    }
    return seconds, scores


def cs231n_run(
    submissions: Path, out: Path, references: Path, notebooks, *flags
) -> tuple[float, dict]:
    # the same head start nbgrader gets: the course folder prepared, untimed
    shutil.copytree(references.parent / "course", out)
    shutil.copytree(references, out / "references")
    start = time.perf_counter()
    subprocess.run(
        [GRADE, str(submissions), "--out", str(out), "--notebooks", *notebooks,
         "--no-progress", *flags],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    with open(out / "scores.csv", newline="") as file:
        scores = {
            (r["student_id"], r["notebook"], r["question"]): float(r["points"])
            for r in csv.DictReader(file)
            if r["status"] != "hand"
        }
    return seconds, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copies", type=int, default=2, help="students per sample")
    parser.add_argument(
        "--notebooks", nargs="+", default=["01_numpy_gradients", "04_pytorch_autograd"]
    )
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=WAYS, metavar="WAY",
                        help=f"which of {WAYS} to run (default: all)")  # fmt: skip
    args = parser.parse_args()
    known = {Path(n).stem for n in notebook_names()}
    assert set(args.notebooks) <= known, f"unknown notebooks; choose from {sorted(known)}"
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cs231n-bench-")))
        clusters = {
            way: stack.enter_context(dask_cluster(int(way[-1]), root))
            for way in ("dask x1", "dask x2")
            if way in args.ways
        }
        submissions = copy_submissions(root / "submissions", args.notebooks, args.copies)
        count = len(list(submissions.glob("*/*.ipynb")))
        start = time.perf_counter()
        warm = root / "warm"
        subprocess.run(
            [GRADE, str(submissions), "--out", str(warm), "--notebooks", *args.notebooks,
             "--no-progress"], check=True, capture_output=True,
        )  # fmt: skip
        print(f"references and a first grading: {time.perf_counter() - start:.0f} s (once a term)")
        folder.prepare(warm / "course")

        def ours(*flags):
            refs = warm / "references"
            return lambda out: cs231n_run(submissions, out, refs, args.notebooks, *flags)

        ways = {
            "nbgrader": lambda out: nbgrader_run(submissions, out),
            "sandbox x1": ours("--workers", "1"),
            "sandbox x2": ours("--workers", "2"),
            "cold x2": ours("--workers", "2", "--cold-kernels"),
            "no reasons x2": ours("--workers", "2", "--no-reasons"),
            "no sandbox x1": ours("--workers", "1", UNSAFE_FLAG),
            **{way: ours("--scheduler", address) for way, address in clusters.items()},
        }
        ways = {way: run for way, run in ways.items() if way in args.ways}
        times = {way: [] for way in ways}
        scores = {}
        for repeat in range(args.repeat):
            for way, run in ways.items():
                seconds, scores[way] = run(root / f"{way.replace(' ', '_')}-{repeat}")
                times[way].append(seconds)
                print(f"  run {repeat + 1} {way:<14} {seconds:6.1f} s", flush=True)
    print(f"\n{count} notebooks ({len(args.notebooks)} per student, {3 * args.copies} students), "
          f"medians of {args.repeat} runs:")  # fmt: skip
    median = {way: statistics.median(t) for way, t in times.items()}
    base = "nbgrader" if "nbgrader" in median else next(iter(median))
    for way, seconds in median.items():
        rate = count / seconds * 60
        print(f"  {way:<14} {seconds:6.1f} s  {rate:5.2f} notebooks/min  "
              f"{median[base] / seconds:4.2f}x {base}'s throughput")  # fmt: skip

    def both(*names):
        return all(name in median for name in names)

    if both("cold x2", "sandbox x2"):
        ratio = median["cold x2"] / median["sandbox x2"]
        print(f"  warm against cold kernels, 2 workers: {ratio:.2f}x")
    if both("sandbox x1", "sandbox x2"):
        print(f"  scaling 1 -> 2 workers: {median['sandbox x1'] / median['sandbox x2']:.2f}x")
    if both("dask x1", "dask x2"):
        print(f"  scaling 1 -> 2 Dask workers: {median['dask x1'] / median['dask x2']:.2f}x")
    if both("sandbox x1", "no sandbox x1"):
        overhead = (median["sandbox x1"] - median["no sandbox x1"]) / count
        print(f"  isolation overhead per notebook (sandbox x1 - no sandbox x1): {overhead:+.1f} s")
    if both("sandbox x2", "dask x2"):
        overhead = (median["dask x2"] - median["sandbox x2"]) / count
        print(f"  Dask overhead per notebook (dask x2 - sandbox x2): {overhead:+.2f} s")
    ours_ = next((w for w in ("sandbox x2", "dask x2", "sandbox x1") if w in scores), None)
    for way in scores:
        if way in ("nbgrader", ours_):
            continue
        print(f"  {way} scores identical to {ours_}'s: {scores[way] == scores[ours_]}")
    if "nbgrader" not in scores or ours_ is None:
        return
    same = scores["nbgrader"] == {k: v for k, v in scores[ours_].items() if k in scores["nbgrader"]}
    print(f"  autograded scores identical to nbgrader's: {same}")
    if not same:
        for key in sorted(scores["nbgrader"]):
            if scores["nbgrader"][key] != scores[ours_].get(key):
                theirs, mine = scores["nbgrader"][key], scores[ours_].get(key)
                print(f"    {key}: nbgrader {theirs}, cs231n-grade {mine}")


if __name__ == "__main__":
    main()
