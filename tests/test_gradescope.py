"""Does the Gradescope autograder grade like cs231n-grade, in Gradescope's layout?

The zip is built for two notebooks, unpacked into a temporary AUTOGRADER_ROOT as Gradescope
unpacks it, set up (the install skipped: this interpreter) and run on the samples and on
hostile submissions; each results.json is checked against Gradescope's specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/), the expected scores and the
hidden tests' source.
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
import zipfile
from pathlib import Path

import adversarial
import nbformat
import pytest

from autograder.course import SAMPLES, SOLUTIONS
from autograder.gradescope import build, run
from autograder.gradescope.results import results_json
from autograder.grading import cli, sandbox
from autograder.grading.feedback import secret_lines
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
def root():
    """An AUTOGRADER_ROOT with the zip unpacked in source/ (permissions kept, as Gradescope's
    unzip keeps them) and setup.sh run."""
    # Not under pytest's folder (0700): other uids must reach the helpers, as in /autograder.
    base = Path(tempfile.mkdtemp(prefix="gradescope-"))
    base.chmod(0o755)
    archive = base / "autograder.zip"
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


def grade(root: Path, files: dict[str, bytes], student: str, isolation: str = "") -> dict:
    """Put `files` (path -> content) in ROOT/submission, run run_autograder (at `isolation`,
    else the strongest level that works here), read results.json."""
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    for name, content in files.items():
        (submission / name).parent.mkdir(parents=True, exist_ok=True)
        (submission / name).write_bytes(content)
    metadata = {"id": 1, "users": [{"email": f"{student}@example.edu", "id": student}]}
    (root / "submission_metadata.json").write_text(json.dumps(metadata))
    (root / "results" / "results.json").unlink(missing_ok=True)
    done = subprocess.run(
        [str(root / "source" / "run_autograder")], cwd=root,
        env=environment(root) | ({"CS231N_GRADESCOPE_ISOLATION": isolation} if isolation else {}),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
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
    if kind == "complete" and os.geteuid() == 0:
        unreadable_to_other_uids(root)


def unreadable_to_other_uids(root: Path) -> None:
    """Fail if a uid like the student kernel's can read the solutions, the references, the
    grading folder, results.json or Gradescope's metadata (where bubblewrap cannot run, file
    permissions are the wall), or cannot read the helpers the kernel imports."""
    secret = [
        root / "source" / "solutions" / "dl_software" / f"{NOTEBOOKS[0]}.ipynb",
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
    readable = root / "source" / "cs231n_utils" / "graded.py"
    assert subprocess.run([*as_other, str(readable)], capture_output=True).returncode == 0


HOSTILE = {
    # forges its answers: patches graded.answer so every answer passes whatever it is
    "forge_patch_answer": lambda root: adversarial._forward_only(adversarial.FORGE_PATCH_ANSWER),
    # prints the hidden test's source and raises it in an exception
    "leak_stdout_stderr": lambda root: adversarial._forward_only(
        inside={"eval_numerical_gradient": adversarial.LEAK_SOURCE.format(
            action=adversarial.LEAKS["leak_stdout_stderr"])}),
    # reads the solution notebook where Gradescope's zip puts it, and runs its answers
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


def test_the_zip_holds_the_scripts_and_only_what_grading_needs(tmp_path):
    """Are setup.sh and run_autograder at the zip's root and executable, the chosen notebooks'
    solutions and release inside, and no tests, build outputs or unused data?"""
    archive = build.build(["01_numpy_gradients"], tmp_path / "autograder.zip")
    with zipfile.ZipFile(archive) as zf:
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert modes[script] & 0o111
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
    `uid`, and passed to cs231n-grade as --isolation only when it is not the sandbox?"""
    seen = []
    monkeypatch.setattr(cli, "main", lambda argv: seen.append(argv) or 0)
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
        flag = seen[-1][seen[-1].index("--isolation") + 1] if "--isolation" in seen[-1] else None
        assert flag == (None if level == "sandbox" else level)


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

    def refuse(argv):
        raise SystemExit("cs231n-grade: refusing to run student code without isolation")

    monkeypatch.setattr(cli, "main", refuse)
    monkeypatch.setattr(run, "choose_isolation", lambda: "sandbox")
    (tmp_path / "submission").mkdir()
    shutil.copy(SAMPLES / "complete" / f"{NOTEBOOKS[0]}.ipynb", tmp_path / "submission")
    assert run.run(tmp_path) == 0
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    validate(data)
    assert data["score"] == 0 and run.STUDENT_NOTE in data["output"]
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
