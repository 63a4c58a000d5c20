"""The input layouts instructors have (folders, a class zip, cs231n-submit's zips, Canvas's
submissions download), each read as one folder per student with the mapping reported."""

from __future__ import annotations

import datetime
import zipfile

import nbformat
import pytest

from autograder.grading.inputs import layouts
from autograder.grading.inputs.identity import Identities
from autograder.grading.inputs.layouts import unpack
from autograder.grading.inputs.submissions import SubmissionsError

EXPECTED = ["01_a.ipynb", "02_b.ipynb"]


def notebook(marker: str = "x = 1") -> str:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(marker)]))


def make_zip(path, entries: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def grade_view(root, entries, roster=None):
    students = layouts.students(root, entries, EXPECTED, Identities(roster=roster))
    return {s.id: {n: (f.status, f.nb and f.nb.cells[0].source) for n, f in s.notebooks.items()}
            for s in students}  # fmt: skip


def test_a_folder_of_cs231n_submit_zips(tmp_path):
    """Is each `<id>_dl_software.zip` (as cs231n-submit writes it) one student, named by its
    file, with environment.json ignored?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for sid in ("ada", "ben"):
        make_zip(inbox / f"{sid}_dl_software.zip",
                 {f"{sid}/01_a.ipynb": notebook(sid), f"{sid}/environment.json": "{}"})  # fmt: skip
    root, entries = unpack(inbox, tmp_path / "work", set(EXPECTED))
    assert [(e.name, e.source, e.layout) for e in entries.values()] == [
        ("ada", "ada_dl_software.zip", "submit zips"),
        ("ben", "ben_dl_software.zip", "submit zips"),
    ]
    assert grade_view(root, entries) == {
        "ada": {"01_a.ipynb": ("ok", "ada"), "02_b.ipynb": ("missing", None)},
        "ben": {"01_a.ipynb": ("ok", "ben"), "02_b.ipynb": ("missing", None)},
    }


def test_a_single_submit_zip_is_still_its_student(tmp_path):
    """One late student's zip alone: graded under its id, not its inner folder's name?"""
    inbox = tmp_path / "late"
    inbox.mkdir()
    make_zip(inbox / "cy_dl_software.zip", {"elsewhere/01_a.ipynb": notebook("cy")})
    root, entries = unpack(inbox, tmp_path / "work", set(EXPECTED))
    assert list(grade_view(root, entries)) == ["cy"]


def test_a_zip_slip_inside_a_student_zip_is_rejected(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_zip(inbox / "ada_dl_software.zip", {"../../escaped.txt": "x"})
    with pytest.raises(SubmissionsError, match="outside the extraction folder"):
        unpack(inbox, tmp_path / "work", set(EXPECTED))
    assert not list(tmp_path.rglob("escaped.txt"))


def test_the_zips_share_one_size_budget(tmp_path, monkeypatch):
    """Are many small zips refused once together they unpack past the cap?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for sid in ("ada", "ben", "cy"):
        make_zip(inbox / f"{sid}_dl_software.zip", {f"{sid}/01_a.ipynb": notebook("y" * 4000)})
    monkeypatch.setattr(layouts, "MAX_ARCHIVE_BYTES", 10_000)
    with pytest.raises(SubmissionsError, match="in all"):
        unpack(inbox, tmp_path / "work", set(EXPECTED))


def test_canvas_download_latest_attempt_late_and_shared_logins(tmp_path):
    """Canvas's file names: is each student's latest attempt of each notebook graded, LATE
    noted, two users with one login told apart by their user id, other files ignored, and a
    cs231n-submit zip uploaded to Canvas unpacked?"""
    files = {
        "lovelaceada_12345_67890_01_a.ipynb": notebook("ada first"),
        "lovelaceada_12345_67891_01_a-1.ipynb": notebook("ada second"),
        "lovelaceada_12345_67890_02_b.ipynb": notebook("ada b"),
        "lovelaceada_12345_67890_notes.pdf": "stray",
        "hopperben_LATE_222_333_01_a.ipynb": notebook("ben late"),
        "smithjo_7_8_01_a.ipynb": notebook("jo 7"),
        "smithjo_9_10_01_a.ipynb": notebook("jo 9"),
        "curiecy_44_55_cy_dl_software.zip": "",
    }
    archive = tmp_path / "submissions.zip"
    make_zip(archive, {k: v for k, v in files.items() if not k.endswith(".zip")})
    inner = tmp_path / "inner.zip"
    make_zip(inner, {"cy/02_b.ipynb": notebook("cy b")})
    with zipfile.ZipFile(archive, "a") as zf:
        zf.write(inner, "curiecy_44_55_cy_dl_software.zip")
    root, entries = unpack(archive, tmp_path / "work", set(EXPECTED))
    mapping = {e.name: (e.canvas_user_id, e.late) for e in entries.values()}
    assert mapping == {
        "lovelaceada": ("12345", False),
        "hopperben": ("222", True),
        "smithjo-7": ("7", False),
        "smithjo-9": ("9", False),
        "curiecy": ("44", False),
    }
    view = grade_view(root, entries)
    assert view["lovelaceada"] == {"01_a.ipynb": ("ok", "ada second"),
                                   "02_b.ipynb": ("ok", "ada b")}  # fmt: skip
    assert view["hopperben"]["01_a.ipynb"] == ("ok", "ben late")
    assert view["smithjo-9"]["01_a.ipynb"] == ("ok", "jo 9")
    assert view["curiecy"]["02_b.ipynb"] == ("ok", "cy b")


def test_a_folder_of_student_folders_maps_each_to_itself(tmp_path):
    (tmp_path / "class" / "ada").mkdir(parents=True)
    (tmp_path / "class" / "ada" / "01_a.ipynb").write_text(notebook())
    root, entries = unpack(tmp_path / "class", tmp_path / "work", set(EXPECTED))
    assert [(e.name, e.layout) for e in entries.values()] == [("ada", "folders")]
    assert list(grade_view(root, entries)) == ["ada"]


def test_extracted_files_keep_the_time_they_were_zipped(tmp_path):
    """Does a file from a zip keep its entry's time (what formgrader shows as submitted)?"""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with zipfile.ZipFile(inbox / "ada_dl_software.zip", "w") as zf:
        zf.writestr(zipfile.ZipInfo("ada/01_a.ipynb", (2026, 3, 14, 15, 9, 26)), notebook())
    root, _ = unpack(inbox, tmp_path / "work", set(EXPECTED))
    stamp = (root / "ada" / "ada" / "01_a.ipynb").stat().st_mtime
    assert datetime.datetime.fromtimestamp(stamp).timetuple()[:6] == (2026, 3, 14, 15, 9, 26)


def test_a_roster_gives_canvas_users_their_student_ids(tmp_path):
    """With a roster's lms_user_id (Canvas's user id), is the roster's id used, not LOGIN?"""
    archive = tmp_path / "submissions.zip"
    make_zip(archive, {"lovelaceada_12345_67890_01_a.ipynb": notebook("ada"),
                       "hopperben_222_333_01_a.ipynb": notebook("ben")})  # fmt: skip
    root, entries = unpack(archive, tmp_path / "work", set(EXPECTED))
    view = grade_view(root, entries, [{"id": "s1001", "lms_user_id": "12345"}])
    assert sorted(view) == ["hopperben", "s1001"]
    assert view["s1001"]["01_a.ipynb"] == ("ok", "ada")
