"""Grade one Gradescope submission with cs231n-grade, as run_autograder and setup.sh do.

    python -m autograder.gradescope.run            # run_autograder: grade ROOT/submission
    python -m autograder.gradescope.run --setup    # setup.sh: grade the release once

ROOT is $AUTOGRADER_ROOT (default /autograder, Gradescope's). The student's files (the notebooks,
or the zip cs231n-submit writes) are packed as one cs231n-submit zip into ROOT/cs231n/inbox and
graded by cs231n-grade (autograder.grading.cli, the same judge and sandbox as a class run) into
ROOT/cs231n, a folder only root may enter, against the references the build computed
(ROOT/source/references.json, `cs231n-grade --references`: no solution is in the package). The
setup makes everything in ROOT/source root's alone but the helpers and the data the notebooks
load (`lock_down`), and before each grading a child running as each kernel uid checks that it
can read none of it (`exposed`), whatever the isolation level. Its result files become
ROOT/results/results.json (results.py). The student's id is the first user's in
ROOT/submission_metadata.json, which Gradescope writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path

from autograder.course import ASSIGNMENT, RELEASE, REPO_ROOT, notebook_names
from autograder.gradescope import results as gradescope
from autograder.gradescope.build import REFERENCES, SETTINGS
from autograder.grading import api, config
from autograder.grading.executors.student import StudentJob
from autograder.grading.inputs.names import student_id
from autograder.grading.inputs.submissions import MAX_ARCHIVE_BYTES, MAX_ENTRIES
from autograder.grading.isolation import sandbox, uids
from autograder.grading.reporting.outputs import all_results
from autograder.results import NotebookResult, Status

PRIVATE = "cs231n"  # ROOT/cs231n: the grading folder, root's alone
SETUP_STUDENT = "release-check"  # the release, graded by the setup
# Outputs of the previous submission's run, removed before the next (references are kept).
PER_SUBMISSION = ("inbox", "submissions", "results", "feedback", "autograded")
PUBLIC = ("cs231n_utils", "data")  # of ROOT/source, what the student's kernel imports and loads
STUDENT_NOTE = (
    "The autograder could not grade this submission. Upload your notebooks (the .ipynb files "
    "of this assignment) or the zip cs231n-submit wrote; if you did, this is the grader's "
    "problem, not yours: no points were taken, and your instructor will regrade it."
)


def root() -> Path:
    return Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")).resolve()


def choose_isolation() -> str:
    """The strongest isolation that works in this container (sandbox.LEVELS, strongest first):
    Gradescope's containers often cannot start bubblewrap or own a cgroup, and then student
    kernels run as an unprivileged uid with resource limits. Where not even that works,
    "uid" is asked for all the same, and cs231n-grade refuses, saying why.
    CS231N_GRADESCOPE_ISOLATION (a level's name) chooses instead."""
    forced = os.environ.get("CS231N_GRADESCOPE_ISOLATION")  # an instructor's choice
    if forced:
        return str(sandbox.Isolation(forced))
    available = sandbox.available_levels(sandbox.probe())
    for level in (sandbox.Isolation.SANDBOX, sandbox.Isolation.NAMESPACES):
        if level in available:
            return str(level)
    return str(sandbox.Isolation.UID)


def private_folder(path: Path) -> Path:
    """A folder only root (the grader) may enter, whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, 0, 0)
    path.chmod(0o700)
    return path


def lock_down(source: Path) -> None:
    """Make every file in `source` (the unpacked zip) root's alone, 0700 or 0600, but the
    PUBLIC folders, which every uid may read (0755, 0644): the autograder's source, the
    graders' notebooks and the references are the grader's; the helpers and the data are the
    kernel's. `source` itself can be listed (Python's import system lists a sys.path entry)."""
    root = os.geteuid() == 0
    source.chmod(0o755)
    for top in source.iterdir():
        for path in [top, *top.rglob("*")] if top.is_dir() and not top.is_symlink() else [top]:
            if root:
                os.chown(path, 0, 0, follow_symlinks=False)
            if path.is_symlink():
                continue
            full = path.is_dir() or path.stat().st_mode & 0o100  # to enter or to run
            mode = 0o755 if full else 0o644
            path.chmod(mode if top.name in PUBLIC else mode & 0o700)


def exposed(source: Path, workers: int) -> list[Path]:
    """What a kernel's uid can read in `source` besides the PUBLIC folders (a child that
    becomes each uid of the `workers` first slots tries): empty unless the permissions are
    wrong. Not checked (empty) unless root, who alone can take another uid."""
    if os.geteuid() != 0:
        return []
    secret = [path for path in source.iterdir() if path.name not in PUBLIC]
    slot_uids = [sandbox.FIRST_SANDBOX_UID + w for w in range(max(1, workers))]
    return sorted({p for uid in slot_uids for p in uids.readable_by(uid, secret)})


def student_of(metadata: Path) -> str:
    """The submitter's Gradescope id (the first user's), or "student" without metadata."""
    try:
        users = json.loads(metadata.read_text()).get("users") or []
        return student_id(str(users[0].get("id") or users[0]["email"]))
    except (OSError, ValueError, AttributeError, IndexError, KeyError, TypeError):
        return "student"


def pack(submission: Path, inbox: Path, student: str) -> Path:
    """The submission as one cs231n-submit zip in `inbox`: a readable zip the student uploaded
    alone is taken as it is; otherwise its regular files (no links) are packed, within the
    grader's bounds on size and count (a broken zip is then a file that is not a notebook)."""
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / f"{student}_{ASSIGNMENT}.zip"
    files = sorted(p for p in submission.rglob("*") if p.is_file() and not p.is_symlink())
    if len(files) == 1 and files[0].suffix.lower() == ".zip" and zipfile.is_zipfile(files[0]):
        shutil.copyfile(files[0], target)
        return target
    total = 0
    with zipfile.ZipFile(target, "w") as archive:
        for path in files[:MAX_ENTRIES]:
            total += path.stat().st_size
            if total > MAX_ARCHIVE_BYTES:
                break
            archive.write(path, f"{student}/{path.relative_to(submission).as_posix()}")
    return target


def grade(base: Path, submission: Path, student: str) -> tuple[list[NotebookResult], str]:
    """Grade `submission` as `student` with cs231n-grade into base/cs231n; the results of
    every notebook of the course (a notebook the grader left without one is a grader_error),
    and what went wrong for the whole submission, if anything ("" otherwise)."""
    out = private_folder(base / PRIVATE)
    for name in PER_SUBMISSION:
        shutil.rmtree(out / name, ignore_errors=True)
    inbox = pack(submission, private_folder(out / "inbox"), student)
    workers = os.environ.get("CS231N_GRADESCOPE_WORKERS", "1")
    references = REPO_ROOT / REFERENCES
    try:
        settings = dataclasses.replace(
            config.load(),
            workers=int(workers),
            progress=False,
            isolation=sandbox.Isolation(choose_isolation()),
        )
        print(
            f"cs231n-grade {inbox.parent} --out {out} --references {references}\n{settings}",
            flush=True,
        )
        readable = exposed(REPO_ROOT, int(workers))
        if readable:  # a student could read the references or the hidden tests: no grading
            raise PermissionError(f"a kernel's uid could read {', '.join(map(str, readable))}")
        code = api.grade(inbox.parent, out, settings, references=references).code
        problem = "" if code == 0 else f"cs231n-grade exited with status {code}"
    except api.GradingRefused as refused:  # its reason is on stdout for instructors
        problem = f"cs231n-grade stopped: {refused}"
    except Exception as error:
        problem = f"cs231n-grade failed: {type(error).__name__}: {error}"
    if problem:
        print(problem, flush=True)
    found = {r.notebook: r for r in all_results(out, [])}
    results = []
    for notebook in (Path(n).stem for n in notebook_names()):
        if notebook not in found:
            job = StudentJob(student, notebook, "missing")
            found[notebook] = job._without_run(Status.GRADER_ERROR, "not graded")
        results.append(found[notebook])
    return results, problem


def visibility_setting(path: Path) -> str:
    """The package's visibility (build --visibility), or the default where it names none."""
    try:
        chosen = json.loads(path.read_text()).get("visibility")
    except (OSError, ValueError, AttributeError):
        return gradescope.VISIBILITY
    return chosen if chosen in gradescope.VISIBILITIES else gradescope.VISIBILITY


def run(base: Path) -> int:
    """run_autograder: grade ROOT/submission and write ROOT/results/results.json."""
    start = time.monotonic()
    results_folder = private_folder(base / "results")
    metadata = base / "submission_metadata.json"  # names and earlier results: root's alone
    if metadata.is_file():
        metadata.chmod(0o600)
    student = student_of(metadata)
    results, problem = grade(base, base / "submission", student)
    failed = any(r.status == Status.GRADER_ERROR for r in results)
    note = STUDENT_NOTE if problem and failed else ""
    # A submission the grader could not take is the student's to fix before the due date.
    visibility = "visible" if note else visibility_setting(REPO_ROOT / SETTINGS)
    data = gradescope.results_json(results, time.monotonic() - start, note, visibility)
    gradescope.write(results_folder / "results.json", data)
    print(f"{student}: {data['score']:g} points; results.json written", flush=True)
    return 0


def setup(base: Path) -> int:
    """setup.sh: keep the package's files from other uids (lock_down), then grade the release
    with the shipped references: they must match this course (cs231n-grade refuses them
    otherwise), and every question must come out graded (no grader error, no crash), or the
    image is not fit to grade."""
    lock_down(REPO_ROOT)
    results, problem = grade(base, RELEASE, SETUP_STUDENT)
    bad = [
        f"{r.notebook} {q.question}: {q.status}"
        for r in results
        for q in r.questions
        if q.status not in (Status.OK, Status.HAND)
    ]
    for name in PER_SUBMISSION:
        shutil.rmtree(base / PRIVATE / name, ignore_errors=True)
    if problem or bad:
        print("\n".join(["setup: the release did not grade cleanly:", problem, *bad]))
        return 1
    print(f"setup: {len(results)} notebook(s) graded against {REPO_ROOT / REFERENCES}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", action="store_true", help="grade the release once (setup.sh)")
    args = parser.parse_args(argv)
    return setup(root()) if args.setup else run(root())


if __name__ == "__main__":
    sys.exit(main())
