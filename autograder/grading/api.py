"""grade(): the grading run, with typed settings in and typed results out.

    from autograder.grading import api, config
    settings = dataclasses.replace(config.load(), workers=4, progress=False)
    graded = api.grade(Path("class"), Path("out"), settings, notebooks=["01_numpy_gradients"])
    graded.results  # every NotebookResult in OUT, this run's and earlier runs'

Every way of grading comes here: the command (cli.main turns its flags into a GraderConfig),
the Gradescope autograder, the tests, and a Dask cluster (settings.scheduler picks the
executor below; the path is otherwise the same). Where the run cannot go on, grade() raises
GradingRefused with the message instructors read; the command prints it and exits.
"""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from autograder.course import SOLUTIONS, notebook_names
from autograder.grading import config
from autograder.grading.executors import shipped
from autograder.grading.executors.collect import load_results
from autograder.grading.executors.jobs import (
    Settings,
    grader_key,
    notebook_modules,
    reference_path,
    reference_problem,
    solution_key,
)
from autograder.grading.executors.plan import describe, plan
from autograder.grading.executors.references import ReferenceJob
from autograder.grading.executors.scheduler import LocalExecutor, run_all
from autograder.grading.executors.student import StudentJob
from autograder.grading.inputs import layouts
from autograder.grading.inputs.identity import IdentityError, read_roster
from autograder.grading.inputs.submissions import SubmissionsError
from autograder.grading.isolation import sandbox, uids, warm
from autograder.grading.isolation.cgroups import remove_stale_cgroups
from autograder.grading.isolation.messages import Limits
from autograder.grading.reporting.outputs import all_results, configure, finish
from autograder.nbgrader_course import folder as course_folder
from autograder.results import NotebookResult, read_json

UNSAFE_FLAG = "--unsafe-run-student-code-without-sandbox"


class GradingRefused(RuntimeError):
    """cs231n-grade will not grade (a missing sandbox, an unreadable roster, no students...):
    the message it gives instructors. Nothing in OUT was changed by the refused part."""


@dataclass
class Graded:
    code: int  # the command's exit status: 0, or 1 (a solution could not be graded, --expect)
    out: Path
    results: list[NotebookResult]  # every result in OUT as graded (hand grades: gradebook)

    def points(self) -> dict[tuple[str, str, str], float | None]:
        """(student id, notebook, question) -> the grader's points (None: awaits a hand
        grader, or the grader failed)."""
        return {
            (r.student_id, r.notebook, q.question): q.points
            for r in self.results
            for q in r.questions
        }


def isolation(settings: config.GraderConfig, unsafe: bool = False) -> sandbox.Isolation:
    """The isolation level to grade at: settings.isolation (the sandbox by default). Refuses
    when it is not available here, naming the weaker levels that are, unless the instructor
    explicitly chose to run student code unisolated (`unsafe`, only ever the command line's
    flag). On a Dask cluster each worker checks its own sandbox (cluster.GraderCheck)."""
    level, remote = settings.isolation, bool(settings.scheduler)
    if remote and level is sandbox.Isolation.UID and not unsafe:
        raise GradingRefused(
            "the 'uid' level rests on file permissions that the grader checks on "
            "its own machine; on a Dask cluster grade at 'sandbox' or 'namespaces'."
        )
    capabilities = [] if remote else sandbox.probe()
    missing = [] if remote else sandbox.missing(capabilities, level)
    if unsafe:
        banner = "!" * 78
        gaps = "not checked (the workers run the notebooks)" if remote else None
        gaps = gaps or ", ".join(missing) or "none"
        print(
            f"{banner}\nWARNING: grading WITHOUT A SANDBOX ({UNSAFE_FLAG}).\nStudent code "
            "runs with your privileges: it can read and change your files, the gradebook and\n"
            f"other students' work, and reach the network. Sandbox parts missing here: "
            f"{gaps}.\n{banner}",
            file=sys.stderr,
        )
        return sandbox.Isolation.NONE
    if missing:
        print(sandbox.report(capabilities), file=sys.stderr)
        levels = list(sandbox.Isolation)
        weaker = [
            str(other)
            for other in sandbox.available_levels(capabilities)
            if levels.index(other) > levels.index(level) and other is not sandbox.Isolation.NONE
        ]
        offer = (
            f"--isolation {' or '.join(weaker)} (weaker: see above what each does not protect)"
            if weaker
            else "no weaker level works here either"
        )
        raise GradingRefused(
            f"refusing to run student code at isolation level '{level}' (missing: "
            f"{', '.join(missing)}).\nInstall bubblewrap and run as root (see README); "
            f"available here: {offer}; or pass {UNSAFE_FLAG} to grade with no sandbox at all."
        )
    if level is not sandbox.Isolation.SANDBOX:
        print(
            f"cs231n-grade: grading at isolation level '{level}'. Not protected: "
            f"{sandbox.LEVELS[level].does_not}.",
            file=sys.stderr,
        )
    return level


@contextmanager
def lock(out: Path) -> Iterator[None]:
    """OUT for this run alone, until it ends however it ends."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".cs231n-grade.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = f"another cs231n-grade is grading into {out}; wait for it"
            raise GradingRefused(message) from None
        yield


def grade(
    submissions: Path,
    out: Path,
    settings: config.GraderConfig | None = None,
    *,
    students: list[str] | None = None,
    force: bool = False,
    notebooks: list[str] | None = None,
    references: Path | None = None,
    expect: Path | None = None,
    unsafe: bool = False,
) -> Graded:
    """Grade `submissions` into `out` with `settings` (default: config.load(out), what the
    command uses with no flags): `students` only (all by default), again with `force` though
    current, `notebooks` only, with the solution's answers from `references` (computed
    elsewhere: no solution runs here), and a nonzero code where the scores differ from the
    CSV `expect`. Raises GradingRefused where the command exits with a message."""
    out = Path(out).resolve()
    settings = settings if settings is not None else config.load(out)
    level = isolation(settings, unsafe)
    with lock(out):
        code = _grade(
            Path(submissions), out, settings, level, students, force, notebooks, references, expect
        )
    return Graded(code, out, all_results(out, []))


def _grade(submissions, out, settings, level, students, force, notebooks, references, expect):
    remove_stale_cgroups()
    known = [Path(n).stem for n in notebook_names()]
    notebooks = notebooks or known
    unknown = set(notebooks) - set(known)
    if unknown:
        raise GradingRefused(f"no such notebook(s): {', '.join(sorted(unknown))}")
    if references:  # the solution's runs, computed elsewhere: no solution runs here
        try:
            warnings = shipped.install(references, out, notebooks)
        except shipped.ReferencesError as error:
            raise GradingRefused(f"refusing the references: {error}") from None
        for warning in warnings:
            print(f"cs231n-grade: warning: {warning}", file=sys.stderr)
    try:
        roster = read_roster(settings.roster) if settings.roster else []
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise GradingRefused(f"cannot read the roster: {error}") from None
    try:
        configure(out, settings)  # the Canvas export and late policy, kept in OUT
    except ValueError as error:
        raise GradingRefused(str(error)) from None
    try:
        expected = [f"{n}.ipynb" for n in notebooks]
        found, folder = layouts.find_students(
            submissions.resolve(), out, expected, roster, students
        )
    except (SubmissionsError, IdentityError) as error:
        raise GradingRefused(str(error)) from None
    if not found:
        raise GradingRefused(f"no student folders in {submissions}")
    db_url = settings.db or course_folder.default_db_url(out)
    job_settings = Settings(
        limits=Limits(
            memory_bytes=settings.memory_mb * 2**20,
            processes=settings.processes,
            cell_timeout_s=settings.cell_timeout,
        ),
        notebook_timeout_s=settings.notebook_timeout,
        isolation=level,
        reasons=settings.reasons,
        warm=settings.warm_kernels,
        hidden=[str(p.resolve()) for p in (out, folder, submissions, references) if p],
    )
    if level is sandbox.Isolation.UID:
        slot_uids = [sandbox.FIRST_SANDBOX_UID + w for w in range(max(1, settings.workers))]
        try:
            uids.protect(out, job_settings.hidden, slot_uids)
        except PermissionError as error:
            raise GradingRefused(str(error)) from None
    executor = make_executor(settings, notebooks, level)
    # nbgrader's generate_assignment registers the assignment in the gradebook; it is needed
    # only when the results are written, so it runs beside the grading.
    preparing = ThreadPoolExecutor(max_workers=1)
    prepared = preparing.submit(course_folder.prepare, out, SOLUTIONS, db_url)
    progress = settings.progress
    try:
        solution_runs = [ReferenceJob(n, r) for n in notebooks for r in (0, 1)]
        todo = [job for job in solution_runs if not _done(job, out)]
        plan_servers(todo, job_settings, settings)
        failed = [
            f"{job.label}: {result}"
            for job, result in run_all(
                executor,
                todo,
                lambda job: job.task(job_settings),
                lambda job, returned: job.finish(out, returned),
                "solutions",
                progress,
            )
            if isinstance(result, BaseException)
        ]
        if failed:
            print("\n".join(["cs231n-grade: the solutions could not be graded:", *failed]))
            return 1
        jobs = [
            StudentJob(s.id, Path(name).stem, nb.status, nb.path and str(nb.path), nb.message)
            for s in found
            for name, nb in s.notebooks.items()
        ]
        reasons = plan(jobs, out, force)
        print(describe(reasons, len(jobs)))
        shared = {}  # notebook -> its checked references, sent once to every machine

        def task(job: StudentJob) -> tuple:
            if job.notebook not in shared:
                checked = reference_problem(out, job.notebook)
                shared[job.notebook] = (
                    executor.share(checked) if isinstance(checked, dict) else checked
                )
            return job.task(job_settings, shared[job.notebook])

        ordered = longest_first(reasons, out)
        plan_servers(ordered, job_settings, settings)
        failures = {
            job: error
            for job, error in run_all(
                executor,
                ordered,
                task,
                lambda job, returned: job.finish(out, returned),
                "students",
                progress,
            )
            if isinstance(error, BaseException)
        }
    finally:
        executor.shutdown()
        preparing.shutdown()
    prepared.result()  # its error, if any, stops here: nothing is half-written
    current = load_results(out, jobs, failures)
    return finish(out, db_url, jobs, current, settings, roster, expect)


def longest_first(jobs: Iterable[StudentJob], out: Path) -> list[StudentJob]:
    """The jobs, those of the notebooks whose solution ran longest first (its reference run's
    seconds): a long notebook started last would leave the other workers idle at the end."""
    seconds = {}
    for job in jobs:
        if job.notebook not in seconds:
            run = read_json(reference_path(out, job.notebook, 0)) or {}
            seconds[job.notebook] = float(run.get("seconds") or 0.0)
    return sorted(jobs, key=lambda job: -seconds[job.notebook])


def plan_servers(jobs: list, job_settings: Settings, settings: config.GraderConfig) -> None:
    """Tell the warm servers (warm.plan) which notebooks' kernels this machine will start, in
    order, so that each next server starts while the current one's kernels run. A cluster's
    workers take jobs in their own order: no plan there."""
    local = job_settings.warm and not settings.scheduler
    warm.plan([notebook_modules(job.notebook) for job in jobs] if local else [])


def make_executor(settings: config.GraderConfig, notebooks: list[str], level):
    """A DaskExecutor on the cluster of settings.scheduler, else a LocalExecutor of workers."""
    if not settings.scheduler:
        return LocalExecutor(max(1, settings.workers))
    from autograder.grading.executors.cluster import DaskExecutor, Expected

    expected = Expected(grader_key(), {n: solution_key(n) for n in notebooks}, str(level))
    try:
        return DaskExecutor(settings.scheduler, expected)
    except (OSError, RuntimeError) as error:  # no scheduler there, or no worker accepts
        raise GradingRefused(f"cannot grade on {settings.scheduler}: {error}") from None


def _done(job, out: Path) -> bool:
    """Whether a job's result is on disk and current; a result that cannot be read is not."""
    try:
        return job.done(out)
    except Exception:
        return False
