"""Reading a class's submissions: nested folders, stray files, odd names, zips (zip-slip
rejected) and broken notebooks, each becoming a clear per-notebook status."""

from __future__ import annotations

import os
import subprocess
import zipfile

import nbformat
import pytest
from nbformat import v3

from autograder.grading.inputs import submissions
from autograder.grading.inputs.names import student_id
from autograder.grading.inputs.submissions import SubmissionsError, discover, extract_zip

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
    assert all(student_id(i) == i for i in found.values())
    assert student_id("a b") != student_id("a_b")


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


def test_notebook_nested_100k_deep_is_invalid_and_the_others_are_read(tmp_path):
    """Is a notebook whose JSON nests 100,000 levels `invalid` with a reason, without a
    RecursionError, while the student's other notebook and another student are read?"""
    write_nb(tmp_path / "ada" / "02_b.ipynb")
    deep = '{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {"x": '
    (tmp_path / "ada" / "01_a.ipynb").write_text(deep + "[" * 100_000 + "]" * 100_000 + "}}")
    write_nb(tmp_path / "ben" / "01_a.ipynb")
    found = {s.id: s for s in discover(tmp_path, EXPECTED)}
    bad = found["ada"].notebooks["01_a.ipynb"]
    assert bad.status == "invalid" and "nested" in bad.message
    assert found["ada"].notebooks["02_b.ipynb"].status == "ok"
    assert found["ben"].notebooks["01_a.ipynb"].status == "ok"


def test_json_depth_ignores_brackets_in_strings():
    """Does the nesting count skip brackets inside strings, escaped quotes included?"""
    assert submissions.json_depth('{"a": ["[[\\"{{", {"b": 1}]}') == 3
    assert submissions.json_depth("[" * 70 + "]" * 70) == 70


def test_nbgrader_metadata_that_is_not_a_mapping_is_invalid(tmp_path):
    """Is a cell with `"nbgrader": 1` (valid nbformat) an invalid notebook, not a crash?"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.cells[0].metadata["nbgrader"] = 1
    (tmp_path / "ada").mkdir()
    nbformat.write(nb, tmp_path / "ada" / "01_a.ipynb")
    bad = discover(tmp_path, EXPECTED)[0].notebooks["01_a.ipynb"]
    assert bad.status == "invalid" and "nbgrader metadata" in bad.message


def test_1100_nested_folders_make_one_student_invalid(tmp_path):
    """Do 1,100 nested empty folders in one student's folder make that student's notebooks
    invalid (no RecursionError), while another student is graded?"""
    deep = tmp_path / "ada"
    deep.mkdir()
    for _ in range(1100):  # os.makedirs itself recurses
        deep = deep / "d"
        deep.mkdir()
    write_nb(tmp_path / "ben" / "01_a.ipynb")
    try:
        found = {s.id: s for s in discover(tmp_path, EXPECTED)}
    finally:  # pytest's own clean-up of tmp_path recurses: remove the tree here
        subprocess.run(["rm", "-rf", str(tmp_path / "ada")], check=True)
    assert {f.status for f in found["ada"].notebooks.values()} == {"invalid"}
    assert "nested more than" in found["ada"].notebooks["01_a.ipynb"].message
    assert found["ben"].notebooks["01_a.ipynb"].status == "ok"


def test_a_folder_with_too_many_entries_is_bounded(tmp_path, monkeypatch):
    """Does the walk stop after MAX_ENTRIES entries (lowered here from 100,000 to keep the
    test fast) and make that student invalid, while another student is graded?"""
    monkeypatch.setattr(submissions, "MAX_ENTRIES", 1000)
    write_nb(tmp_path / "ada" / "01_a.ipynb")
    for i in range(1100):
        (tmp_path / "ada" / f"f{i}").touch()
    write_nb(tmp_path / "ben" / "01_a.ipynb")
    found = {s.id: s for s in discover(tmp_path, EXPECTED)}
    assert "more than 1000 entries" in found["ada"].notebooks["01_a.ipynb"].message
    assert found["ben"].notebooks["01_a.ipynb"].status == "ok"


def test_long_and_odd_names_get_bounded_ids_and_file_stems(tmp_path):
    """Does a 250-character folder name, and names with odd characters, get an id nbgrader's
    gradebook can store (at most 128 characters) and a short, safe file stem?"""
    from autograder.grading.inputs.names import MAX_ID_CHARS, file_stem

    names = ["x" * 250, "ä ö$;`rm -rf`", "-leading", "a..b..", "new\nline"]
    for name in names:
        write_nb(tmp_path / name / "01_a.ipynb")
    found = discover(tmp_path, EXPECTED)
    assert len(found) == len(names) and len({s.id for s in found}) == len(names)
    for student in found:
        assert len(student.id) <= MAX_ID_CHARS and student_id(student.id) == student.id
        stem = file_stem(student.id)
        assert len(stem) <= 51 and stem.isascii() and "/" not in stem and stem[0] not in ".-"
        assert student.notebooks["01_a.ipynb"].status == "ok"


def test_folders_that_map_to_one_id_are_both_graded_with_one_warning(tmp_path):
    """Are `Ada` and `ada` (one file on a case-insensitive disk), and a folder named like the
    id of another (`a b` -> `a_b-<hash>`), all graded under distinct ids and file stems, with
    one warning per clash?"""
    from autograder.grading.inputs.names import file_stem

    taken = student_id("a b")  # a folder named like the id of another
    for name in ("a b", taken, "Ada", "ada"):
        write_nb(tmp_path / name / "01_a.ipynb")
    warnings: list[str] = []
    found = discover(tmp_path, EXPECTED, warn=warnings.append)
    assert len(found) == 4
    ids = [s.id for s in found]
    stems = [file_stem(i).casefold() for i in ids]
    assert len(set(i.casefold() for i in ids)) == 4 and len(set(stems)) == 4
    assert len(warnings) == 2 and all("map to one id" in w for w in warnings)
    assert all(s.notebooks["01_a.ipynb"].status == "ok" for s in found)
