"""cs231n-submit: what it refuses (with the reason), what it warns about, and the zip it writes
only when nothing is wrong, readable by the grader's submissions reader."""

from __future__ import annotations

import copy
import json
import zipfile

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder.course import RELEASE, SAMPLES, notebook_names
from autograder.grading.inputs import submissions
from autograder.notebooks import read
from cs231n_utils import notebook_checks as checks
from cs231n_utils import submit

NB01 = "01_numpy_gradients.ipynb"


def as_run(nb):
    """nb with increasing execution counts on every code cell, as after Run All."""
    nb = copy.deepcopy(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for count, cell in enumerate(code, start=1):
        cell.execution_count = count
    return nb


def report_for(nb, allow_unfinished=False):
    report = checks.Report(NB01)
    checks.check_cells(nb, submit.release_cells()[NB01], report, allow_unfinished)
    checks.check_run_order(nb, report)
    return report


def test_release_cells_are_the_releases():
    """Does the package's list of released cells name every release notebook and, for each,
    the nbgrader cells of the committed release, in order?"""
    released = submit.release_cells()
    assert sorted(released) == notebook_names()
    for name, cells in released.items():
        ids = [
            c.metadata["nbgrader"]["grade_id"]
            for c in read(RELEASE / name).cells
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        ]
        assert [c["grade_id"] for c in cells] == ids


def test_complete_notebook_run_in_order_passes_the_static_checks():
    report = report_for(as_run(read(SAMPLES / "complete" / NB01)))
    assert report.problems == [] and report.warnings == []


def test_untouched_release_is_refused_exercise_by_exercise():
    """Is each exercise of an untouched release reported as not attempted, and is that a
    warning only with allow_unfinished?"""
    solutions = [c["grade_id"] for c in submit.release_cells()[NB01] if c["solution"]]
    nb = as_run(read(RELEASE / NB01))
    report = report_for(nb)
    for gid in solutions:
        assert any(f"exercise [{gid}] was not attempted" in p for p in report.problems)
    relaxed = report_for(nb, allow_unfinished=True)
    assert relaxed.problems == [] and len(relaxed.warnings) == len(solutions)


def test_changed_and_deleted_graded_cells_are_named():
    nb = as_run(read(SAMPLES / "complete" / NB01))
    tests = [
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    ]
    changed, deleted = tests[0], tests[1]
    changed.source = changed.source.replace("seed=0", "seed=1")
    nb.cells.remove(deleted)
    problems = "\n".join(report_for(nb).problems)
    gid = changed.metadata["nbgrader"]["grade_id"]
    assert f"graded test cell [{gid}] was changed (line" in problems and "seed=1" in problems
    assert f"[{deleted.metadata['nbgrader']['grade_id']}] is missing" in problems


def test_out_of_order_and_unrun_cells_are_reported():
    nb = as_run(read(SAMPLES / "complete" / NB01))
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[3].execution_count = 99  # a later cell then runs as [5]: out of order
    code[-1].execution_count = None
    problems = report_for(nb).problems
    assert any("ran as [5] after" in p and "[99]" in p for p in problems)
    assert any("never run" in p for p in problems)


def test_huge_output_is_warned_about(tmp_path):
    nb = as_run(read(SAMPLES / "complete" / NB01))
    cell = next(c for c in nb.cells if c.cell_type == "code")
    cell.outputs = [new_output("stream", name="stdout", text="x" * (2 * 2**20))]
    path = tmp_path / NB01
    nbformat.write(nb, path)
    report = checks.Report(NB01, path)
    checks.check_output_sizes(nb, path, report)
    assert report.problems == [] and any("MB of output" in w for w in report.warnings)


@pytest.mark.parametrize("text", ["", "{not json", '{"cells": 3}'])
def test_unsaved_or_broken_files_are_refused(tmp_path, text):
    path = tmp_path / NB01
    path.write_text(text)
    report = checks.Report(NB01, path)
    assert checks.read_saved(path, report) is None and len(report.problems) == 1


def test_student_id_order(monkeypatch):
    """Option, then CS231N_STUDENT_ID, then the login (never root); odd ids refused."""
    monkeypatch.setenv(submit.STUDENT_ID_ENV, "from-env")
    assert submit.student_id("ada") == "ada" and submit.student_id() == "from-env"
    monkeypatch.delenv(submit.STUDENT_ID_ENV)
    monkeypatch.setattr(submit.getpass, "getuser", lambda: "root")
    assert submit.student_id() == "student"
    with pytest.raises(submit.SubmitError, match="may hold only"):
        submit.student_id("../ada")


def test_zip_is_all_or_nothing(tmp_path):
    """When writing fails half-way (a notebook vanished), is neither the zip nor a partial
    file left behind?"""
    present = tmp_path / NB01
    present.write_text("{}")
    with pytest.raises(FileNotFoundError):
        submit.write_zip(
            {NB01: present, "02.ipynb": tmp_path / "gone.ipynb"}, "ada", tmp_path / "out", {}
        )
    assert list((tmp_path / "out").iterdir()) == []


def saved_run(cells):
    """A notebook whose saved outputs say every cell ran without error, in order."""
    nb = new_notebook(cells=[new_code_cell(src) for src in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    for count, cell in enumerate(nb.cells, start=1):
        cell.execution_count = count
    return nb


@pytest.mark.slow
def test_fresh_run_catches_a_cell_that_only_worked_out_of_order(tmp_path):
    """A cell used a variable from a cell since deleted: its saved output has no error, but a
    fresh kernel fails. Is that a problem, naming the cell and the error; and is a failure
    the student saw too only a warning, with its points?"""
    nb = saved_run(["x = 1", "print(x + deleted_variable)", "raise ValueError('seen')"])
    nb.cells[2].outputs = [new_output("error", ename="ValueError", evalue="seen", traceback=[])]
    nb.cells[2].metadata["nbgrader"] = {"grade_id": "t", "grade": True}
    fresh = checks.rerun(nb, tmp_path)
    report = checks.Report("x.ipynb")
    checks.compare_runs(nb, fresh, report, {"t": 3})
    assert len(report.problems) == 1
    assert "cell 2 `print(x + deleted_variable)` ran without error" in report.problems[0]
    assert "NameError" in report.problems[0]
    assert report.warnings == [
        "cell 3 [t] `raise ValueError('seen')` fails (worth 3 points): ValueError: seen"
    ]


@pytest.fixture
def executed_complete(tmp_path_factory):
    """The complete sample of notebook 01, run top to bottom and saved, as a student would."""
    folder = tmp_path_factory.mktemp("student")
    nb = checks.rerun(read(SAMPLES / "complete" / NB01), folder)
    nbformat.write(nb, folder / NB01)
    return folder / NB01


@pytest.mark.slow
def test_cli_packages_a_finished_notebook_for_the_grader(executed_complete, tmp_path, capsys):
    """Does `cs231n-submit NOTEBOOK --student-id ada --out DIR` exit 0 and write
    ada_dl_software.zip holding ada/<notebook> and ada/environment.json, which the grader's
    reader finds as student ada with a valid notebook?"""
    code = submit.main([str(executed_complete), "--student-id", "ada", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr()
    archive = tmp_path / "ada_dl_software.zip"
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == [f"ada/{NB01}", "ada/environment.json"]
        env = json.loads(zf.read("ada/environment.json"))
        assert zf.read(f"ada/{NB01}") == executed_complete.read_bytes()
    assert set(env["versions"]) >= {"python", "numpy", "torch", "tensorflow"}
    assert env["torch_device"].startswith("cpu") and env["colab"] is False
    extracted = submissions.extract_zip(archive, tmp_path / "x")
    (student,) = submissions.discover(extracted, [NB01])
    assert student.id == "ada" and student.notebooks[NB01].status == "ok"


@pytest.mark.slow
def test_cli_refuses_the_untouched_release_and_writes_nothing(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / NB01).write_bytes((RELEASE / NB01).read_bytes())
    monkeypatch.chdir(folder)
    assert submit.main([NB01]) == 1
    err = capsys.readouterr().err
    assert "NOT SUBMITTED" in err and "was not attempted" in err and "never run" in err
    assert sorted(p.name for p in folder.iterdir()) == [NB01]


def test_on_colab_the_zip_is_offered_for_download(colab_here, tmp_path, monkeypatch):
    """On (simulated) Colab, is the zip handed to google.colab.files.download, under the
    default id for root, and the environment recorded as Colab's? (No fresh run here: the
    tests above cover it.)"""
    folder = tmp_path / "drive"
    folder.mkdir()
    nbformat.write(as_run(read(SAMPLES / "complete" / NB01)), folder / NB01)
    monkeypatch.delenv(submit.STUDENT_ID_ENV, raising=False)
    monkeypatch.setattr(submit.getpass, "getuser", lambda: "root")
    monkeypatch.chdir(tmp_path)
    target = submit.check_and_package(NB01, folder=folder, execute=False)
    assert target == tmp_path / "student_dl_software.zip" and target.is_file()
    assert colab_here.downloads() == [str(target)]
    with zipfile.ZipFile(target) as zf:
        assert json.loads(zf.read("student/environment.json"))["colab"] is True


def test_every_reason_is_one_line_and_never_empty():
    """A cell's error is its type and message's first line; an exception without a message
    is its type's name; a many-line message is its first line; never an empty reason?"""
    from nbclient.exceptions import CellExecutionError

    cell = CellExecutionError("Traceback ...\nlong", "NameError", "name 'x' is not defined\nmore")
    assert checks.one_line(cell) == "NameError: name 'x' is not defined"
    assert checks.one_line(RuntimeError("")) == "RuntimeError"
    assert checks.one_line(TimeoutError("A cell timed out\nafter 600 s")) == "A cell timed out"
    saved = new_code_cell("x", outputs=[new_output("error", ename="ValueError", evalue="")])
    assert checks._error(saved) == "ValueError"


def test_only_named_or_changed_notebooks_are_run_again(tmp_path):
    """With none named, is a notebook unchanged since its last good check left out, and one
    changed since run; is a named notebook always run, and --rerun-all runs all?"""
    names = ["01_a.ipynb", "02_b.ipynb"]
    for name in names:
        (tmp_path / name).write_text("{}")
    assert submit.to_run(names, False, tmp_path, None) == set(names)  # never checked
    reports = [checks.Report(n, tmp_path / n) for n in names]
    submit.remember_checked(tmp_path, reports)
    assert submit.to_run(names, False, tmp_path, None) == set()
    (tmp_path / "02_b.ipynb").write_text('{"changed": 1}')
    assert submit.to_run(names, False, tmp_path, None) == {"02_b.ipynb"}
    assert submit.to_run(["01_a.ipynb"], True, tmp_path, None) == {"01_a.ipynb"}
    assert submit.to_run(names, False, tmp_path, True) == set(names)
    failed = checks.Report("02_b.ipynb", tmp_path / "02_b.ipynb", problems=["x"])
    submit.remember_checked(tmp_path, [failed])  # a failed check is not remembered
    assert submit.to_run(names, False, tmp_path, None) == {"02_b.ipynb"}
