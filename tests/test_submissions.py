"""Reading a class's submissions: nested folders, stray files, odd names, zips (zip-slip
rejected) and broken notebooks, each becoming a clear per-notebook status."""

from __future__ import annotations

import os
import zipfile

import nbformat
import pytest
from nbformat import v3

from autograder import submissions
from autograder.submissions import SubmissionsError, discover, extract_zip

EXPECTED = ["01_a.ipynb", "02_b.ipynb"]


def write_nb(path, source="x = 1"):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)


def statuses(students):
    return {s.id: {n: f.status for n, f in s.notebooks.items()} for s in students}


def test_nested_wrappers_stray_files_and_nested_notebooks(tmp_path):
    """Are students found below wrapping folders, with stray files and macOS debris ignored
    and notebooks found in subfolders of a student's folder?"""
    root = tmp_path / "export" / "submissions"
    write_nb(root / "ada" / "01_a.ipynb")
    write_nb(root / "ada" / "work" / "02_b.ipynb")
    write_nb(root / "ben" / "01_a.ipynb")
    (root / "ben" / "notes.txt").write_text("stray")
    (root / "README.txt").write_text("stray")
    write_nb(root / "__MACOSX" / "ada" / "01_a.ipynb")
    write_nb(root / "ben" / ".ipynb_checkpoints" / "02_b.ipynb")
    found = discover(tmp_path, EXPECTED)
    assert statuses(found) == {
        "ada": {"01_a.ipynb": "ok", "02_b.ipynb": "ok"},
        "ben": {"01_a.ipynb": "ok", "02_b.ipynb": "missing"},
    }


def test_empty_folder_is_a_student_with_nothing_submitted(tmp_path):
    (tmp_path / "cy").mkdir()
    write_nb(tmp_path / "dee" / "01_a.ipynb")
    assert statuses(discover(tmp_path, EXPECTED))["cy"] == {
        "01_a.ipynb": "missing",
        "02_b.ipynb": "missing",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"cells": [', "not valid JSON"),
        (b"%PDF-1.7\n\xff\xfe binary", "not UTF-8"),
        (b'{"hello": 1}', "JSON without cells"),
        (b'{"nbformat": 2, "nbformat_minor": 0, "worksheets": []}', "nbformat 2"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": "oops", "metadata": {}}', "valid"),
    ],
)
def test_broken_files_are_invalid_with_a_reason(tmp_path, content, message):
    """Does each kind of broken file get `invalid` and a reason, without affecting the
    student's other notebook?"""
    write_nb(tmp_path / "ada" / "02_b.ipynb")
    (tmp_path / "ada" / "01_a.ipynb").write_bytes(content)
    (student,) = discover(tmp_path, EXPECTED)
    bad = student.notebooks["01_a.ipynb"]
    assert bad.status == "invalid" and message in bad.message
    assert student.notebooks["02_b.ipynb"].status == "ok"


def test_old_nbformat_is_upgraded(tmp_path):
    """Is an nbformat 3 notebook read as version 4, with a note?"""
    old = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[v3.new_code_cell("x = 1")])])
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "01_a.ipynb").write_text(nbformat.writes(old, version=3))
    nb = discover(tmp_path, EXPECTED)[0].notebooks["01_a.ipynb"]
    assert (nb.status, nb.message, nb.nb.nbformat) == ("ok", "upgraded from nbformat 3", 4)
    assert nb.nb.cells[0].source == "x = 1"


def test_huge_notebook_is_refused_without_reading_it(tmp_path):
    """Is a 100 MB file refused by its size?"""
    (tmp_path / "ada").mkdir()
    with open(tmp_path / "ada" / "01_a.ipynb", "wb") as file:
        file.truncate(100 * 2**20)
    nb = discover(tmp_path, EXPECTED)[0].notebooks["01_a.ipynb"]
    assert nb.status == "invalid" and "100 MB" in nb.message


def test_two_copies_at_one_depth_are_ambiguous(tmp_path):
    write_nb(tmp_path / "ada" / "v1" / "01_a.ipynb")
    write_nb(tmp_path / "ada" / "v2" / "01_a.ipynb")
    write_nb(tmp_path / "ben" / "01_a.ipynb")
    nb = discover(tmp_path, EXPECTED)[0].notebooks["01_a.ipynb"]
    assert nb.status == "invalid" and "ambiguous" in nb.message


def test_odd_and_non_utf8_names_get_safe_distinct_ids(tmp_path):
    """Do names with spaces, accents and bytes that are not UTF-8 become safe, distinct ids
    that still show the original?"""
    os.mkdir(os.path.join(os.fsencode(tmp_path), b"st\xe9phane"))  # Latin-1 bytes on disk
    write_nb(tmp_path / "Zoë Smith" / "01_a.ipynb")
    write_nb(tmp_path / "plain" / "01_a.ipynb")
    found = {s.original_name: s.id for s in discover(tmp_path, EXPECTED)}
    assert found["plain"] == "plain"
    assert found["st\\xe9phane"].startswith("st_xe9phane-")
    assert found["Zoë Smith"].startswith("Zo__Smith-")
    assert all(submissions.safe_id(i) == i for i in found.values())
    assert submissions.safe_id("a b") != submissions.safe_id("a_b")


def make_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def test_zip_of_a_submissions_folder(tmp_path):
    nb = nbformat.writes(nbformat.v4.new_notebook())
    make_zip(tmp_path / "class.zip", {"subs/ada/01_a.ipynb": nb, "subs/ben/02_b.ipynb": nb})
    out = extract_zip(tmp_path / "class.zip", tmp_path / "x")
    assert statuses(discover(out, EXPECTED)) == {
        "ada": {"01_a.ipynb": "ok", "02_b.ipynb": "missing"},
        "ben": {"01_a.ipynb": "missing", "02_b.ipynb": "ok"},
    }


@pytest.mark.parametrize("evil", ["../escaped.txt", "ada/../../escaped.txt", "/tmp/abs.txt"])
def test_zip_slip_is_rejected_before_anything_is_written(tmp_path, evil):
    """Is an entry that escapes the target folder rejected, with nothing extracted?"""
    make_zip(tmp_path / "class.zip", {"ada/01_a.ipynb": "{}", evil: "pwned"})
    with pytest.raises(SubmissionsError, match="outside the extraction folder"):
        extract_zip(tmp_path / "class.zip", tmp_path / "x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "escaped.txt").exists()


def test_not_a_zip_is_a_clear_error(tmp_path):
    (tmp_path / "class.zip").write_text("nope")
    with pytest.raises(SubmissionsError, match="not a readable zip"):
        extract_zip(tmp_path / "class.zip", tmp_path / "x")
