"""Does the Gradescope autograder grade like cs231n-grade, in Gradescope's layout?

The zip is built for two notebooks, unpacked into a temporary AUTOGRADER_ROOT as Gradescope
unpacks it, set up (the install skipped: this interpreter) and run on the samples and on
hostile submissions; each results.json is checked against Gradescope's specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/), the expected scores and the
hidden tests' source. The package holds no solution: a kernel that searches the whole
filesystem for solutions and references, planted ones included, earns nothing by it.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
import zipfile
from pathlib import Path

import adversarial
import nbformat
import pytest

from autograder.course import RELEASE, REPO_ROOT, SAMPLES, SOLUTIONS
from autograder.gradescope import build, run
from autograder.gradescope.results import results_json
from autograder.grading import api
from autograder.grading.executors import shipped
from autograder.grading.isolation import sandbox
from autograder.grading.reporting.feedback import secret_lines
from autograder.notebooks import hidden_lines, is_written_answer, nbgrader_meta, read
from autograder.results import NotebookResult, QuestionResult

NOTEBOOKS = ["01_numpy_gradients", "04_pytorch_autograd"]
NAME = re.compile(r"^(?P<notebook>\w+): .*\((?P<question>\w+)\)$")

# Gradescope's results.json, "Output format": the keys it reads and their types.
TOP_KEYS = {
    "score": (int, float), "execution_time": (int, float), "output": str, "output_format": str,
    "test_output_format": str, "test_name_format": str, "visibility": str,
    "stdout_visibility": str, "extra_data": dict, "tests": list, "leaderboard": list,
}  # fmt: skip
TEST_KEYS = {
    "score": (int, float), "max_score": (int, float), "status": str, "name": str,
    "name_format": str, "number": str, "output": str, "output_format": str, "tags": list,
    "visibility": str, "extra_data": dict,
}  # fmt: skip
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def validate(data: dict) -> None:
    """Fail unless `data` is a results.json Gradescope accepts: known keys of the right types,
    a score for the submission, statuses and visibilities from the specification's lists."""
    assert isinstance(data, dict)
    assert set(data) <= set(TOP_KEYS), set(data) - set(TOP_KEYS)
    for key, value in data.items():
        assert isinstance(value, TOP_KEYS[key]) and not isinstance(value, bool), key
    for key in ("visibility", "stdout_visibility"):
        assert data.get(key, "visible") in VISIBILITIES, key
    for key in ("output_format", "test_output_format"):
        assert data.get(key, "text") in FORMATS, key
    tests = data.get("tests", [])
    assert "score" in data or tests and all("score" in t for t in tests)
    for test in tests:
        assert isinstance(test, dict) and set(test) <= set(TEST_KEYS), test
        for key, value in test.items():
            assert isinstance(value, TEST_KEYS[key]) and not isinstance(value, bool), (key, test)
        assert test.get("status", "passed") in ("passed", "failed"), test
        assert test.get("visibility", "visible") in VISIBILITIES, test
        assert 0 <= test.get("score", 0) <= test.get("max_score", float("inf")), test


def texts(data: dict) -> list[str]:
    """Every string a student may read in results.json."""
    tests = data["tests"]
    return [data.get("output", "")] + [t.get(k, "") for t in tests for k in ("name", "output")]


def expected_scores(student: str) -> dict[tuple[str, str], float]:
    with open(SAMPLES / "expected_scores.csv", newline="") as file:
        return {
            (r["notebook"], r["question"]): float(r["points"])
            for r in csv.DictReader(file)
            if r["student_id"] == student and r["notebook"] in NOTEBOOKS
        }


def written_points() -> dict[tuple[str, str], float]:
    return {
        (n, nbgrader_meta(c)["grade_id"]): float(nbgrader_meta(c)["points"])
        for n in NOTEBOOKS
        for c in read(SOLUTIONS / f"{n}.ipynb").cells
        if is_written_answer(c)
    }


def by_question(data: dict) -> dict[tuple[str, str], dict]:
    found = {}
    for test in data["tests"]:
        match = NAME.match(test["name"])
        assert match, test["name"]
        found[(match["notebook"], match["question"])] = test
    return found


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the zip's code only
    return env | {
        "AUTOGRADER_ROOT": str(root),
        "CS231N_GRADESCOPE_SKIP_INSTALL": "1",
        "CS231N_GRADESCOPE_PYTHON": sys.executable,
        "CS231N_GRADESCOPE_WORKERS": "2",
    }


@pytest.fixture(scope="module")
def root(graded_samples):
    """An AUTOGRADER_ROOT with the zip unpacked in source/ (permissions kept, as Gradescope's
    unzip keeps them) and setup.sh run. The build finds the solution runs of the session's
    grading (`graded_samples`) where it keeps its own and takes them, as it takes runs it made
    before (they are keyed by the solution and the grader)."""
    # Not under pytest's folder (0700): other uids must reach the helpers, as in /autograder.
    base = Path(tempfile.mkdtemp(prefix="gradescope-"))
    base.chmod(0o755)
    archive = base / "autograder.zip"
    (base / "solution-runs").mkdir(mode=0o700)
    shutil.copytree(graded_samples[1] / "references", base / "solution-runs" / "references")
    subprocess.run(
        [sys.executable, "-m", "autograder.gradescope.build", "--notebooks", *NOTEBOOKS,
         "--out", str(archive)], check=True,
    )  # fmt: skip
    root = base / "autograder"
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            Path(zf.extract(info, root / "source")).chmod(info.external_attr >> 16 & 0o777)
    setup = subprocess.run(
        [str(root / "source" / "setup.sh")], env=environment(root), cwd=root,
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stdout[-4000:] + setup.stderr[-4000:]
    yield root
    subprocess.run(["rm", "-rf", str(base)], check=True)


def grade(
    root: Path, files: dict[str, bytes], student: str, isolation: str = "",
    log: list[str] | None = None, wrap: list[str] = (),
) -> dict:  # fmt: skip
    """Put `files` (path -> content) in ROOT/submission, run run_autograder (at `isolation`,
    else the strongest level that works here; under the command `wrap`, if any), read
    results.json; run_autograder's output is appended to `log`."""
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    for name, content in files.items():
        (submission / name).parent.mkdir(parents=True, exist_ok=True)
        (submission / name).write_bytes(content)
    metadata = {"id": 1, "users": [{"email": f"{student}@example.edu", "id": student}]}
    (root / "submission_metadata.json").write_text(json.dumps(metadata))
    (root / "results" / "results.json").unlink(missing_ok=True)
    done = subprocess.run(
        [*wrap, str(root / "source" / "run_autograder")], cwd=root,
        env=environment(root) | ({"CS231N_GRADESCOPE_ISOLATION": isolation} if isolation else {}),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    if log is not None:
        log.append(done.stdout + done.stderr)
    data = json.loads((root / "results" / "results.json").read_text())
    validate(data)
    secrets = set().union(*(hidden_lines(read(SOLUTIONS / f"{n}.ipynb")) for n in NOTEBOOKS))
    assert len(secrets) > 10
    leaked = [line for text in texts(data) for line in secrets if line in text]
    assert not leaked, leaked
    return data


def sample(kind: str) -> dict[str, bytes]:
    """The sample's two notebooks: loose (complete), in a cs231n-submit zip (partly_wrong),
    or in folders, as a repository upload has them (untouched)."""
    paths = {n: SAMPLES / kind / f"{n}.ipynb" for n in NOTEBOOKS}
    if kind == "complete":
        return {p.name: p.read_bytes() for p in paths.values()}
    if kind == "untouched":
        return {f"notebooks/dl_software/{p.name}": p.read_bytes() for p in paths.values()}
    archive = Path(os.environ.get("TMPDIR", "/tmp")) / f"gradescope-{os.getpid()}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in paths.values():
            zf.write(path, f"{kind}/{path.name}")
    content = archive.read_bytes()
    archive.unlink()
    return {f"{kind}_dl_software.zip": content}


@pytest.mark.parametrize("kind", ["complete", "partly_wrong", "untouched"])
@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_samples_get_their_expected_scores(root, kind):
    """Does each sample get expected_scores.csv's points, question by question, with a status
    that says whether it earned them all, and its written answers pending (or 0 when left as
    released)? And can no other uid read what the grader keeps (checked once)?"""
    data = grade(root, sample(kind), kind)
    tests = by_question(data)
    expected = expected_scores(kind)
    got = {k: t["score"] for k, t in tests.items() if k in expected}
    assert expected and got == expected, [tests[k] for k in expected if got.get(k) != expected[k]]
    for key, points in expected.items():
        assert tests[key]["max_score"] >= points
        assert tests[key]["status"] == ("passed" if points == tests[key]["max_score"] else "failed")
    assert set(tests) == set(expected) | set(written_points())
    for key, points in written_points().items():
        assert tests[key]["max_score"] == points and tests[key]["score"] == 0
        if kind == "untouched":  # left as released: 0 points, no hand grader needed
            assert tests[key]["status"] == "failed", tests[key]
        else:
            assert "status" not in tests[key] and "graded by hand" in tests[key]["output"]
    assert data["score"] == sum(expected.values())
    shown = {data["visibility"], *(t["visibility"] for t in data["tests"])}
    assert shown == {"after_due_date"}, shown  # the package's default (gradescope.json)
    if kind == "complete" and os.geteuid() == 0:
        unreadable_to_other_uids(root)


def unreadable_to_other_uids(root: Path) -> None:
    """Fail if a uid like the student kernel's can read the shipped references, the graders'
    notebooks (hidden tests), the autograder's source, the grading folder, results.json or
    Gradescope's metadata (where bubblewrap cannot run, file permissions are the wall), or
    cannot read the helpers the kernel imports and the data it loads."""
    secret = [
        root / "source" / build.REFERENCES,
        root / "source" / "solutions" / "dl_software" / f"{NOTEBOOKS[0]}.ipynb",
        root / "source" / "autograder" / "grading" / "judging" / "judge.py",
        root / "source" / "pyproject.toml",
        next((root / "cs231n" / "references").glob("*.json")),
        root / "cs231n" / "gradebook.db",
        root / "results" / "results.json",
        root / "submission_metadata.json",
    ]
    uid = sandbox.FIRST_SANDBOX_UID + 999
    as_other = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "cat"]
    for path in secret:
        assert path.is_file()
        assert subprocess.run([*as_other, str(path)], capture_output=True).returncode != 0, path
    for readable in (root / "source" / "cs231n_utils" / "graded.py",
                     root / "source" / "data" / "digits.npz"):  # fmt: skip
        assert subprocess.run([*as_other, str(readable)], capture_output=True).returncode == 0


HOSTILE = {
    # forges its answers: patches graded.answer so every answer passes whatever it is
    "forge_patch_answer": lambda root: adversarial._forward_only(adversarial.FORGE_PATCH_ANSWER),
    # prints the hidden test's source and raises it in an exception
    "leak_stdout_stderr": lambda root: adversarial._forward_only(
        inside={"eval_numerical_gradient": adversarial.LEAK_SOURCE.format(
            action=adversarial.LEAKS["leak_stdout_stderr"])}),
    # reads the graders' notebook where Gradescope's zip puts it, and runs its answer cells
    "steal_solutions": lambda root: adversarial._stealing(
        f"PATH = {str(root / 'source' / 'solutions' / 'dl_software' / adversarial.FILE)!r}"),
}  # fmt: skip
HOSTILE_POINTS = {
    "forge_patch_answer": adversarial.FORWARD,
    "leak_stdout_stderr": adversarial.FORWARD,
    "steal_solutions": adversarial.ZERO,
}


@pytest.mark.parametrize("student", sorted(HOSTILE))
@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_hostile_submissions_gain_nothing(root, student):
    """Does a notebook that forges its answers, leaks the hidden tests or reads the solutions
    get exactly what its honest answers earn, and a notebook not uploaded say so?"""
    nb = HOSTILE[student](root)
    data = grade(root, {adversarial.FILE: nbformat.writes(nb).encode()}, student)
    tests = by_question(data)
    got = {q: t["score"] for (n, q), t in tests.items() if n == adversarial.NOTEBOOK}
    expected = {q: points for q, (points, _) in HOSTILE_POINTS[student].items()} | {
        q: 0 for (n, q) in written_points() if n == adversarial.NOTEBOOK
    }
    assert got == expected, [t for (n, q), t in tests.items() if got.get(q) != expected.get(q)]
    missing = [t for (n, _), t in tests.items() if n == "04_pytorch_autograd"]
    assert missing and all(t["score"] == 0 and "not submitted" in t["output"] for t in missing)
    assert "04_pytorch_autograd: notebook not submitted" in data["output"]


def test_the_visibility_is_the_packages_setting(tmp_path):
    """Does the zip carry the visibility it was built with (after the due date by default),
    does run_autograder read it back (the default where the file is missing or names
    another value), and is a value Gradescope does not know refused?"""
    for chosen in (None, "visible"):
        kwargs = {"visibility": chosen} if chosen else {}
        archive = build.build(["01_numpy_gradients"], tmp_path / "a.zip", {"format": "-"}, **kwargs)
        with zipfile.ZipFile(archive) as zf:
            zf.extract(build.SETTINGS, tmp_path)
        assert run.visibility_setting(tmp_path / build.SETTINGS) == (chosen or "after_due_date")
    (tmp_path / build.SETTINGS).write_text('{"visibility": "public"}')
    assert run.visibility_setting(tmp_path / build.SETTINGS) == "after_due_date"
    assert run.visibility_setting(tmp_path / "missing.json") == "after_due_date"
    with pytest.raises(ValueError, match="after_published"):
        build.build(["01_numpy_gradients"], tmp_path / "b.zip", {"format": "-"}, visibility="x")


def test_no_zip_is_built_from_a_release_out_of_date(monkeypatch, tmp_path, capsys):
    """Does `make gradescope` refuse, saying why, while notebooks/ differs from what
    solutions/ generate (students would hold notebooks the package does not grade)?"""
    stale = ["notebooks/dl_software/01_numpy_gradients.ipynb differs", "run `make release`"]
    monkeypatch.setattr(build, "release_out_of_date", lambda: stale)
    out = tmp_path / "autograder.zip"
    assert build.main(["--notebooks", "01_numpy_gradients", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert stale[0] in printed and "make release" in printed and not out.exists()


def test_the_build_asks_the_release_check_and_believes_no_silent_failure(monkeypatch, tmp_path):
    """Is the committed release current by the check the build runs, are the differences a
    stale release prints passed on, and is a check that fails without saying why an error
    rather than 'up to date'?"""
    assert build.release_out_of_date() == []
    fake = tmp_path / "python"
    for body, expected in (
        ("echo 'a differs'; echo 'run make release'; exit 1", ["a differs"]),
        ("exit 1", RuntimeError),
        ("echo boom >&2; exit 2", RuntimeError),
    ):
        fake.write_text(f"#!/bin/sh\n{body}\n")
        fake.chmod(0o755)
        monkeypatch.setattr(build.sys, "executable", str(fake))
        if expected is RuntimeError:
            with pytest.raises(RuntimeError, match="checking the release failed"):
                build.release_out_of_date()
        else:
            assert build.release_out_of_date()[:1] == expected


def test_the_zip_holds_the_scripts_and_only_what_grading_needs(tmp_path):
    """Are setup.sh and run_autograder at the zip's root and executable, the references
    readable by their owner alone, the chosen notebooks' release and graders' copy inside, and
    no tests, build outputs or unused data?"""
    archive = build.build(["01_numpy_gradients"], tmp_path / "autograder.zip", {"format": "-"})
    with zipfile.ZipFile(archive) as zf:
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert modes[script] & 0o111
    assert modes[build.REFERENCES] & 0o777 == 0o600 and archive.stat().st_mode & 0o077 == 0
    names = set(modes)
    assert {"pyproject.toml", "solutions/dl_software/01_numpy_gradients.ipynb",
            "notebooks/dl_software/01_numpy_gradients.ipynb", "data/digits.npz",
            "autograder/gradescope/run.py", "cs231n_utils/graded.py"} <= names  # fmt: skip
    assert not [n for n in names if n.startswith(("tests/", "build/", "data/sample_submissions"))]
    assert not [n for n in names if "04_pytorch" in n or "mnist4k" in n or "__pycache__" in n]
    assert {"data/mnist4k.npz", "data/convnet_backbone.npz"} <= {
        f"data/{f}" for f in build.data_files(["08_convnets"])
    }


def test_the_isolation_is_the_strongest_that_works(monkeypatch, tmp_path):
    """Is the full sandbox chosen where nothing is missing, else bubblewrap's namespaces, else
    `uid`, and is that the level grade() is given?"""
    seen = []
    graded = api.Graded(0, tmp_path, [])
    monkeypatch.setattr(api, "grade", lambda *a, **k: seen.append(a[2]) or graded)
    monkeypatch.setattr(run, "exposed", lambda source, workers: [])  # not a package here
    submission = tmp_path / "submission"
    submission.mkdir()
    levels = list(sandbox.Isolation)  # strongest first: sandbox, namespaces, uid, none
    for available, level in (
        (levels, "sandbox"),
        (levels[1:], "namespaces"),
        (levels[2:], "uid"),
        (levels[3:], "uid"),  # cs231n-grade then refuses, saying why
    ):
        monkeypatch.setattr(sandbox, "available_levels", lambda capabilities, a=available: a)
        monkeypatch.setattr(sandbox, "probe", lambda: [])
        assert run.choose_isolation() == level
        run.grade(tmp_path, submission, "student")
        assert seen[-1].isolation == level and not seen[-1].progress


def test_the_student_id_comes_from_gradescope_metadata(tmp_path):
    """Is the first user's id taken, and "student" where the metadata is missing or odd?"""
    metadata = tmp_path / "submission_metadata.json"
    assert run.student_of(metadata) == "student"
    metadata.write_text(json.dumps({"users": [{"id": 4242, "email": "a@b.c"}, {"id": 7}]}))
    assert run.student_of(metadata) == "4242"
    metadata.write_text(json.dumps({"users": "nonsense"}))
    assert run.student_of(metadata) == "student"


def test_the_validator_rejects_what_the_specification_does_not_allow():
    """Does the results.json validator catch an unknown key, a wrong type, a bad status?"""
    good = {"score": 1.0, "tests": [{"name": "q", "score": 1, "max_score": 1, "status": "passed"}]}
    validate(good)
    for bad in ({**good, "grade": 1}, {**good, "score": "1"},
                {**good, "tests": [{**good["tests"][0], "status": "ok"}]},
                {**good, "tests": [{**good["tests"][0], "visibility": "public"}]},
                {"tests": [{"name": "q"}]}):  # fmt: skip
        with pytest.raises(AssertionError):
            validate(bad)


def test_a_grader_failure_is_reported_as_the_graders(monkeypatch, tmp_path):
    """When cs231n-grade cannot grade at all, does results.json say, for the submission and for
    each question, that the grader failed and the student lost nothing, without a status that
    reads as the student's?"""

    def refuse(settings, unsafe=False):
        raise api.GradingRefused("refusing to run student code without isolation")

    monkeypatch.setattr(api, "isolation", refuse)  # the first step of api.grade
    monkeypatch.setattr(run, "exposed", lambda source, workers: [])  # not a package here
    monkeypatch.setattr(run, "choose_isolation", lambda: "sandbox")
    (tmp_path / "submission").mkdir()
    shutil.copy(SAMPLES / "complete" / f"{NOTEBOOKS[0]}.ipynb", tmp_path / "submission")
    assert run.run(tmp_path) == 0
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    validate(data)
    assert data["score"] == 0 and run.STUDENT_NOTE in data["output"]
    assert data["visibility"] == "visible"  # what to upload instead, before the due date
    course_questions = {q for n in run.notebook_names() for q in run_questions(n)}
    assert {q for _, q in by_question(data)} == course_questions
    for test in data["tests"]:
        assert "not yours" in test["output"] and test["score"] == 0, test


def run_questions(notebook_file: str) -> set[str]:
    """Every graded cell's id in a solution notebook."""
    nb = read(SOLUTIONS / notebook_file)
    return {nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("grade")}


def test_a_submission_is_packed_as_one_cs231n_submit_zip(tmp_path):
    """Is a zip uploaded alone taken as it is, and anything else (loose or nested notebooks, a
    broken zip) packed under the student's folder, links left out?"""
    submission, inbox = tmp_path / "submission", tmp_path / "inbox"
    (submission / "nested").mkdir(parents=True)
    (submission / "nested" / "01_numpy_gradients.ipynb").write_text("{}")
    (submission / "link.ipynb").symlink_to("/etc/hostname")
    with zipfile.ZipFile(run.pack(submission, inbox, "ada")) as zf:
        assert zf.namelist() == ["ada/nested/01_numpy_gradients.ipynb"]
    shutil.rmtree(submission)
    submission.mkdir()
    (submission / "mine.zip").write_bytes(b"not a zip")
    with zipfile.ZipFile(run.pack(submission, inbox, "ada")) as zf:
        assert zf.namelist() == ["ada/mine.zip"]
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("someone/01_numpy_gradients.ipynb", "{}")
    shutil.copy(archive, submission / "mine.zip")
    packed = run.pack(submission, inbox, "ada")
    assert packed.name == "ada_dl_software.zip" and packed.read_bytes() == archive.read_bytes()


def test_results_say_why_a_notebook_or_question_was_not_graded_and_withhold_hidden_lines():
    """Does results.json name a timeout, a crash and an unreadable notebook in the grader's
    words, list the cells that failed, and withhold a message line that quotes a hidden test?"""
    secret = sorted(secret_lines(NOTEBOOKS[0]))[0]
    ran = NotebookResult("ada", NOTEBOOKS[0], "ok", "", [
        QuestionResult("test_graph_gradients", 0.0, 2, "timeout", [f"got {secret}", "too slow"]),
        QuestionResult("test_two_layer_loss", 0.0, 1, "crashed", []),
        QuestionResult("test_training", 2.0, 2, "ok", []),
    ], cells=[{"label": "cell 7", "status": "timeout"},
              {"label": "cell 9", "status": "died"}])  # fmt: skip
    unreadable = NotebookResult("ada", NOTEBOOKS[1], "invalid", "", [
        QuestionResult("test_manual_loss", 0.0, 1, "invalid", ["not a notebook: not UTF-8"]),
    ], message="not a notebook: not UTF-8")  # fmt: skip
    data = results_json([unreadable, ran], 3.2)
    validate(data)
    assert data["score"] == 2 and data["execution_time"] == 3
    lines = data["output"].splitlines()
    assert lines[0] == f"{NOTEBOOKS[0]}: 2 / 5 points"
    assert lines[1:3] == ["  cell 7: ran out of time", "  cell 9: crashed the kernel"]
    assert (
        lines[3]
        == f"{NOTEBOOKS[1]}: notebook could not be read (not a notebook: not UTF-8), 0 points"
    )
    tests = by_question(data)
    timeout = tests[(NOTEBOOKS[0], "test_graph_gradients")]
    assert "ran out of time" in timeout["output"] and "too slow" in timeout["output"]
    assert not [text for text in texts(data) if secret in text] and timeout["status"] == "failed"
    assert "crashed the kernel" in tests[(NOTEBOOKS[0], "test_two_layer_loss")]["output"]
    assert tests[(NOTEBOOKS[0], "test_training")]["status"] == "passed"
    assert [t["number"] for t in data["tests"]] == ["1.1", "1.2", "1.3", "2.1"]


@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_at_the_uid_level_a_sample_scores_the_same_and_the_solutions_stay_unreadable(root):
    """Where a container cannot run bubblewrap, the kernel runs as an unprivileged uid and file
    permissions are the wall: does the partly wrong sample get the same points there, and does
    a notebook that reads the solutions in the zip still get none?"""
    if os.geteuid() != 0:
        pytest.skip("the uid level needs root")
    data = grade(root, sample("partly_wrong"), "partly_wrong", isolation="uid")
    expected = expected_scores("partly_wrong")
    assert {k: t["score"] for k, t in by_question(data).items() if k in expected} == expected
    nb = HOSTILE["steal_solutions"](root)
    data = grade(root, {adversarial.FILE: nbformat.writes(nb).encode()}, "thief", isolation="uid")
    got = [t["score"] for (n, _), t in by_question(data).items() if n == adversarial.NOTEBOOK]
    assert got and not any(got), data["tests"]


# ----------------------------------------------------------------- no solution in the package

_SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.DOTALL)


def solution_lines(solution: nbformat.NotebookNode) -> set[str]:
    """The lines only the solution shows: those of its solution regions and model written
    answers (8 characters or more, no bare comment) that a student cannot read elsewhere: not
    in the release notebooks, not in the helpers (cs231n_utils) they import."""
    lines = set()
    for cell in solution.cells:
        regions = _SOLUTION_REGION.findall(cell.source)
        if nbgrader_meta(cell).get("solution") and not regions:
            regions = [cell.source]
        for region in regions if nbgrader_meta(cell).get("solution") else []:
            lines.update(line.strip() for line in region.splitlines())
    public = [texts_of(p.read_bytes()) for p in sorted(RELEASE.glob("*.ipynb"))]
    public += [p.read_text() for p in sorted((REPO_ROOT / "cs231n_utils").rglob("*.py"))]
    return {
        line for line in lines
        if len(line) >= 8 and not line.startswith("#") and not any(line in t for t in public)
    }  # fmt: skip


def texts_of(content: bytes) -> str:
    """A file's text, and the strings inside it when it is JSON (a notebook's source lines are
    JSON strings there, their quotes escaped)."""
    text = content.decode("utf-8", "replace")
    try:
        document = json.loads(text)
    except ValueError:
        return text
    strings, todo = [], [document]
    while todo:
        value = todo.pop()
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict | list):
            todo.extend(value.values() if isinstance(value, dict) else value)
    return text + "\n" + "\n".join(strings)


def solution_text_in(archive: Path, notebooks: list[str]) -> list[str]:
    """'member: line' for every solution line found in a file of the zip."""
    lines = set().union(*(solution_lines(read(SOLUTIONS / f"{n}.ipynb")) for n in notebooks))
    assert len(lines) > 30
    found = []
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            text = texts_of(zf.read(name))
            found += [f"{name}: {line}" for line in sorted(lines) if line in text]
    return found


@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_the_zip_holds_no_solution_but_the_hidden_tests(root, tmp_path):
    """Does no file in the zip hold a line of the solutions' answer cells (its notebooks are
    the release and the graders' copies, hidden tests kept), while a zip that holds a solution
    notebook is caught?"""
    archive = root.parent / "autograder.zip"
    assert solution_text_in(archive, NOTEBOOKS) == []
    with zipfile.ZipFile(archive) as zf:
        graders = zf.read(f"solutions/dl_software/{NOTEBOOKS[0]}.ipynb")
    hidden = hidden_lines(read(SOLUTIONS / f"{NOTEBOOKS[0]}.ipynb"))
    assert hidden and all(line in texts_of(graders) for line in hidden)
    leaky = tmp_path / "leaky.zip"  # the check can fail: the old package shipped this file
    with zipfile.ZipFile(leaky, "w") as zf:
        zf.write(SOLUTIONS / f"{NOTEBOOKS[1]}.ipynb", "solutions/x.ipynb")
    assert len(solution_text_in(leaky, NOTEBOOKS)) > 10


# ------------------------------------------------------------------ references that do not fit


def mismatched(document: dict) -> dict[str, tuple[dict | str, str]]:
    """Broken copies of a good references file, each with the words its refusal must hold."""
    one, two = NOTEBOOKS

    def changed(change) -> dict:
        copy = json.loads(json.dumps(document))
        change(copy)
        return copy

    def drift(copy):  # the second run's first answer of notebook 01 moved by 1 %
        answer = next(iter(copy["notebooks"][one]["runs"][1].values()))["answers"][0]
        answer["value"]["data"] = [x * 1.01 + 1e-3 for x in answer["value"]["data"]]

    return {
        "not json": ("{\"format\": ", "cannot read"),
        "format": (changed(lambda d: d.update(format="other/1")), "not a references file"),
        "sources": (changed(lambda d: d.update(sources="0" * 64)), "other grader sources"),
        "release": (changed(lambda d: d["notebooks"][one].update(release="0" * 64)),
                    f"another release notebook of {one}"),
        "questions": (changed(lambda d: d["notebooks"][two]["questions"].pop()),
                      f"another graded questions of {two}"),
        "tests": (changed(lambda d: d["notebooks"][one].update(tests="0" * 64)),
                  "graded tests (hidden tests included)"),
        "missing": (changed(lambda d: d["notebooks"].pop(two)), f"no references of {two}"),
        "a run": (changed(lambda d: d["notebooks"][one]["runs"].pop()),
                  f"the runs of {one} do not answer"),
        "drift": (changed(drift), "differs between two runs"),
    }  # fmt: skip


@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_references_that_do_not_match_the_course_are_refused(root, tmp_path):
    """Is a references file of another release, other questions, hidden tests or grader, one
    missing a notebook or a run, or one whose runs disagree refused with the reason, the
    shipped one accepted, and a refusal in the container a grader's problem for the student?"""
    good = json.loads((root / "source" / build.REFERENCES).read_text())
    assert shipped.install(root / "source" / build.REFERENCES, tmp_path / "ok", NOTEBOOKS) == []
    for case, (document, words) in mismatched(good).items():
        path = tmp_path / f"{case.replace(' ', '_')}.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        with pytest.raises(shipped.ReferencesError, match=re.escape(words)):
            shipped.install(path, tmp_path / case.replace(" ", "_"), NOTEBOOKS)
    path = root / "source" / build.REFERENCES
    original = path.read_bytes()
    try:  # the release's fingerprint of notebook 01 changed in the installed package
        path.write_text(json.dumps(mismatched(good)["release"][0]))
        log = []
        data = grade(root, sample("complete"), "refused", log=log)
    finally:
        path.write_bytes(original)
    assert f"refusing the references: {path} was computed for another release" in log[0]
    assert data["score"] == 0 and run.STUDENT_NOTE in data["output"]
    assert data["visibility"] == "visible"  # what to upload instead, before the due date


# --------------------------------------------------------- a hunt through the whole filesystem

# Appended to every answer cell of the untouched release: the first one searches the
# filesystem, breadth first from the folders above cs231n_utils (the package), then the usual
# places, then /, for 30 s at most (with UNTIL_FOUND, only until the end of the breadth-first
# layer of its first find, as an attacker who has what they need); it runs the answer cells
# (not the release's stubs) of any notebook of this name, and replays the answers of any
# references document it finds as the answers of every graded test whose names they match. It
# writes what it found to REPORT.
HUNT = """
import builtins as _builtins
if not hasattr(_builtins, "_hunted"):
    def _hunt(budget, report, notebook, until_found):
        import json, os, time, zipfile
        start, code, docs, hits, visited = time.monotonic(), [], [], [], []
        def look(path, name, text):
            found, found_docs = [], []
            try:
                data = json.loads(text)
            except Exception:
                return
            if name.endswith(".ipynb") and os.path.basename(name).startswith(notebook):
                for cell in data.get("cells", []) if isinstance(data, dict) else []:
                    source = "".join(cell.get("source", ""))
                    if cell.get("cell_type") == "code" and \\
                            cell.get("metadata", {}).get("nbgrader", {}).get("solution") and \\
                            "YOUR CODE HERE" not in source and source.strip():
                        found.append(source)
            todo = [(data, 0, False)]  # (value, depth, under a key naming this notebook)
            while todo:
                value, depth, mine = todo.pop(0)
                if isinstance(value, dict) and isinstance(value.get("answers"), list) and \\
                        value["answers"] and all(isinstance(a, dict) and "name" in a and
                                                 "value" in a for a in value["answers"]):
                    found_docs.append((mine, value))
                elif isinstance(value, dict) and depth < 8:
                    todo.extend((v, depth + 1, mine or str(k).startswith(notebook))
                                for k, v in value.items())
                elif isinstance(value, list) and depth < 8:
                    todo.extend((v, depth + 1, mine) for v in value)
            if found or found_docs:
                hits.append(path)
            code.extend(found)
            docs.extend(found_docs)
        roots = []
        try:
            import cs231n_utils
            here = os.path.dirname(os.path.abspath(cs231n_utils.__file__))
            while here != os.path.dirname(here):
                here = os.path.dirname(here)
                roots.append(here)
        except Exception:
            pass
        roots += [os.path.expanduser("~"), "/autograder", "/root", "/home", "/srv", "/opt",
                  "/tmp", "/var/tmp", "/mnt", "/work", "/"]
        queue, seen, found_at = [(r, 0) for r in roots if os.path.isdir(r)], set(), None
        while queue and time.monotonic() - start < budget:
            folder, depth = queue.pop(0)
            if until_found and found_at is not None and depth > found_at:
                break
            real = os.path.realpath(folder)
            if real in seen or real in ("/proc", "/sys", "/dev"):
                continue
            seen.add(real)
            visited.append(folder)
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        queue.append((entry.path, depth + 1))
                    elif entry.is_file() and entry.name.endswith((".ipynb", ".json", ".zip")) \\
                            and entry.stat().st_size < 64 * 2**20:
                        if entry.name.endswith(".zip"):
                            with zipfile.ZipFile(entry.path) as archive:
                                for member in archive.namelist():
                                    if member.endswith((".ipynb", ".json")):
                                        look(entry.path + "!" + member, member,
                                             archive.read(member).decode("utf-8", "replace"))
                        else:
                            with open(entry.path, encoding="utf-8", errors="replace") as f:
                                look(entry.path, entry.name, f.read())
                except Exception:
                    continue
            if hits and found_at is None:
                found_at = depth  # the layer of the first find
        try:
            with open(report, "w") as f:
                json.dump({"hits": hits, "visited": visited, "code": len(code),
                           "docs": len(docs), "seconds": time.monotonic() - start}, f)
        except OSError:
            pass
        return code, docs
    _builtins._hunted = _hunt(30.0, REPORT, NOTEBOOK, UNTIL_FOUND)
    if _builtins._hunted[1]:
        import cs231n_utils.graded as _graded, json as _json
        def _replay(test_source, max_bytes, _docs=_builtins._hunted[1], _real=_graded.run_probe):
            def fits(doc):  # its names (quoted) and hints, as the hidden test writes them
                return sum(('"' + a["name"] + '"' in test_source) +
                           bool(a.get("hint") and a["hint"] in test_source)
                           for a in doc["answers"])
            mine, best = max(_docs, key=lambda m: (fits(m[1]) / len(m[1]["answers"]), m[0]))
            if not fits(best):
                return _real(test_source, max_bytes)
            return _graded.Answers(_json.dumps(best))
        _graded.run_probe = _replay
        def _quiet(lines):  # every other cell, the visible checks included, cannot raise
            source = "".join(lines)
            if "cs231n_utils.graded" in source or not source.strip():
                return lines
            return [f"try:\\n    exec({source!r}, globals())\\nexcept BaseException:\\n    pass\\n"]
        get_ipython().input_transformers_post.append(_quiet)
for _source in _builtins._hunted[0]:
    try:
        exec(_source, globals())
    except Exception:
        pass
"""
PLACES = ("/root", "/home", "/srv", "/opt", "/tmp")  # and the autograder root
# In the mount namespace that stands for a Gradescope container at the `uid` level: a fresh
# /tmp holding the folders named in $CS231N_KEEP (the test's AUTOGRADER_ROOT's folder, and this
# checkout with its environment where it lies in /tmp), bound back through $1 (a 0700 folder),
# and a copy of the planted folder ($2); the host's copies of the course ($CS231N_HIDE) emptied.
CONTAINER = """set -e
hold="$1"; planted="$2"; shift 2
printf '%s\\n' "$CS231N_KEEP" > "$hold/keeps"
i=0
while read -r path; do
    i=$((i + 1)); mkdir "$hold/keep$i"; mount --bind "$path" "$hold/keep$i"
done < "$hold/keeps"
cp -a "$planted" "$hold/planted"
mount -t tmpfs -o mode=1777 tmpfs /tmp
i=0
while read -r path; do
    i=$((i + 1)); mkdir -p "$path"; mount --bind "$hold/keep$i" "$path"
done < "$hold/keeps"
cp -a "$hold/planted" "$planted"
printf '%s\\n' "$CS231N_HIDE" | while read -r path; do
    if [ -d "$path" ]; then mount -t tmpfs -o size=1m,mode=0755 tmpfs "$path"; fi
done
exec "$@"
"""


def course_copies() -> list[str]:
    """The folders of this machine's checkouts of the course that hold solutions or answers:
    every worktree's solutions/, sample submissions and build/, and the git folder; and the same
    folders of any other checkout within four levels of a top-level folder that is not the
    system's (a CI runner may keep one beside the clone it tests; a Gradescope container holds
    none)."""
    git = ["git", "-C", str(REPO_ROOT)]
    listed = subprocess.run([*git, "worktree", "list", "--porcelain"], capture_output=True,
                            text=True)  # fmt: skip
    trees = [line.split(" ", 1)[1] for line in listed.stdout.splitlines()
             if line.startswith("worktree ")] or [str(REPO_ROOT)]  # fmt: skip
    common = subprocess.run([*git, "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    parts = ("solutions", "data/sample_submissions", "build")
    system = {"proc", "sys", "dev", "usr", "lib", "lib32", "lib64", "bin", "sbin", "boot", "etc",
              "run", "tmp", "var"}  # fmt: skip
    bases = [b for b in Path("/").iterdir() if b.is_dir() and b.name not in system]
    marks = {m.parents[1] for b in bases for d in range(4)
             for m in b.glob("*/" * d + "solutions/dl_software")}  # fmt: skip
    others = [
        p for m in marks if str(m) not in trees for p in (m / ".git", *(m / q for q in parts))
    ]
    return (
        [str(Path(t) / p) for t in trees for p in parts]
        + ([common] if common else [])
        + [str(p) for p in others if p.is_dir()]
    )


@pytest.fixture
def planted(root):
    """Copies of notebook 01's solution and of the shipped references in each usual place and
    the autograder root, in folders anyone may list: (the folders, a function that sets the
    files' mode). Removed afterwards."""
    name = f"cs231n-planted-{uuid.uuid4().hex[:8]}"
    folders = [Path(place) / name for place in PLACES if Path(place).is_dir()] + [root / name]
    for folder in folders:
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
        shutil.copy(SOLUTIONS / adversarial.FILE, folder / adversarial.FILE)
        shutil.copy(root / "source" / build.REFERENCES, folder / "references.json")

    def set_mode(mode: int, which: str = "") -> None:
        for path in (p for folder in folders for p in folder.iterdir()):
            path.chmod(mode if which in ("", path.name) else 0o600)

    yield folders, set_mode
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def hunt(
    root: Path, level: str, folders: list[Path], until_found: bool = False
) -> tuple[dict, dict | None]:
    """Grade the hunting notebook at `level`; at `uid`, in a mount namespace where the host's
    copies of the course are emptied and /tmp is the container's (see CONTAINER). Returns the
    points per question of notebook 01 and the hunt's report (None where the kernel could not
    write it outside its sandbox)."""
    report = Path("/var/tmp") / f"cs231n-hunt-{uuid.uuid4().hex[:8]}.json"
    prefix = f"REPORT, NOTEBOOK, UNTIL_FOUND = {str(report)!r}, {adversarial.NOTEBOOK!r}, "
    prefix += f"{until_found}\n"
    nb = adversarial._base("untouched")
    for cell in nb.cells:
        if cell.cell_type == "code" and nbgrader_meta(cell).get("solution"):
            cell.source += "\n" + prefix + HUNT
    wrap, hold = [], Path("/var/tmp") / f"cs231n-hold-{uuid.uuid4().hex[:8]}"
    if level == "uid":
        hold.mkdir(mode=0o700)
        tmp_copy = next(f for f in folders if f.parent == Path("/tmp"))
        keep = [root.parent] + ([REPO_ROOT] if Path("/tmp") in REPO_ROOT.parents else [])
        wrap = ["env", f"CS231N_HIDE={chr(10).join(course_copies())}",
                f"CS231N_KEEP={chr(10).join(map(str, keep))}", "unshare", "--mount",
                "--propagation", "private", "sh", "-c", CONTAINER, "sh", str(hold),
                str(tmp_copy)]  # fmt: skip
    try:
        data = grade(root, {adversarial.FILE: nbformat.writes(nb).encode()}, f"hunt-{level}",
                     isolation=level, wrap=wrap)  # fmt: skip
        found = json.loads(report.read_text()) if report.is_file() else None
    finally:
        report.unlink(missing_ok=True)
        shutil.rmtree(hold, ignore_errors=True)  # the namespace, and its mounts, are gone
    points = {q: t["score"] for (n, q), t in by_question(data).items() if n == adversarial.NOTEBOOK}
    return points, found


def available(level: str) -> bool:
    return sandbox.Isolation(level) in sandbox.available_levels(sandbox.probe())


@pytest.mark.parametrize("level", ["sandbox", "namespaces", "uid"])
@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_a_hunt_through_the_filesystem_finds_nothing_to_use(root, planted, level):
    """Does a notebook that searches the whole filesystem for solutions and references (the
    package's, and copies planted in home, /srv, /opt, /tmp and the autograder root) and runs
    or replays what it finds earn no more than the untouched release (0)? At `sandbox` and
    `namespaces` the copies are world-readable and must be out of sight; at `uid` the host's
    permissions decide, so they are 0600, and the hunt must have looked at them and the
    package."""
    if not available(level) or os.geteuid() != 0:
        pytest.skip(f"isolation level {level} is not available here")
    folders, set_mode = planted
    set_mode(0o600 if level == "uid" else 0o644)
    points, found = hunt(root, level, folders)
    assert points and not any(points.values()), points
    if level == "uid":
        assert found is not None and found["hits"] == [], found and found["hits"]
        looked = set(found["visited"])
        assert str(root / "source") in looked and str(root / "source" / "autograder") in looked
        unseen = [f for f in folders if str(f) not in looked and str(f.parent) not in looked]
        assert not unseen, unseen  # the planted folder, or the one above it that hid it
        as_uid = ["setpriv", f"--reuid={sandbox.FIRST_SANDBOX_UID}",
                  f"--regid={sandbox.FIRST_SANDBOX_UID}", "--clear-groups", "cat"]  # fmt: skip
        for path in (p for f in folders for p in f.iterdir()):
            assert subprocess.run([*as_uid, str(path)], capture_output=True).returncode != 0


@pytest.mark.parametrize("readable", [adversarial.FILE, "references.json"])
@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_at_the_uid_level_a_readable_copy_on_the_host_is_found_and_used(root, planted, readable):
    """The hunt can fail: at `uid`, where nothing but the host's permissions hides a file, does
    a world-readable planted solution, or references file, give it full marks?"""
    if not available("uid") or os.geteuid() != 0:
        pytest.skip("the uid level needs root")
    folders, set_mode = planted
    set_mode(0o644, which=readable)
    points, found = hunt(root, "uid", folders, until_found=True)  # every copy is one layer deep
    autograded = {q: p for q, p in points.items() if q in adversarial.POINTS}
    assert autograded == adversarial.POINTS, (points, found and found["hits"])
    reachable = {str(f / readable) for f in folders if f.parent.stat().st_mode & 0o001}
    assert found and reachable and reachable <= set(found["hits"]), found and found["hits"]


@pytest.mark.slow
@pytest.mark.xdist_group("gradescope")
def test_the_grader_refuses_a_package_whose_secrets_a_kernel_could_read(root):
    """Does the check run before each grading find a references file made world-readable,
    and find nothing in the package as set up?"""
    if os.geteuid() != 0:
        pytest.skip("only root can take another uid")
    path = root / "source" / build.REFERENCES
    assert run.exposed(root / "source", 2) == []
    try:
        path.chmod(0o644)
        assert run.exposed(root / "source", 2) == [path]
    finally:
        path.chmod(0o600)
