"""One identity per student across runs (autograder/grading/inputs/identity.py), regrades on demand
(plan.py), and the merge of identities an earlier run split (merge.py)."""

from __future__ import annotations

import pytest

from autograder.grading.inputs.identity import Found, Identities, IdentityError, read_table

ROSTER = [{"id": "s1001", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.org",
           "lms_user_id": "12345"}]  # fmt: skip
ADA = Found("lovelaceada", "lovelaceada_12345_1_01.ipynb", "canvas", "12345")
BEN = Found("hopperben", "hopperben_222_2_01.ipynb", "canvas", "222", late=True)


def run(out, found: list[Found], roster=None) -> list[str]:
    """One run's resolution, saved as cs231n-grade saves it."""
    identities = Identities.load(out, roster)
    ids = [identities.resolve(f) for f in found]
    identities.save(out)
    return ids


def test_a_rerun_without_the_roster_keeps_the_roster_ids_and_names(tmp_path):
    """Graded with a roster, then without: is Ada still s1001, not her Canvas login, with her
    name kept, and is there one row per student?"""
    assert run(tmp_path, [ADA, BEN], ROSTER) == ["s1001", "hopperben"]
    assert run(tmp_path, [ADA, BEN]) == ["s1001", "hopperben"]
    table = read_table(tmp_path)
    assert sorted(table) == ["hopperben", "s1001"]
    assert table["s1001"]["name"] == "Ada Lovelace" and table["s1001"]["logins"] == "lovelaceada"


def test_a_partial_run_blanks_nothing(tmp_path):
    """A late folder of cs231n-submit zips (no Canvas user id) for one student: is their
    Canvas id kept, are they resolved by the login found before, and is everyone else kept?"""
    run(tmp_path, [ADA, BEN], ROSTER)
    late = Found("lovelaceada", "lovelaceada_dl_software.zip", "submit zips")
    assert run(tmp_path, [late]) == ["s1001"]
    table = read_table(tmp_path)
    assert table["s1001"]["canvas_user_id"] == "12345" and table["s1001"]["email"] == "ada@x.org"
    assert table["s1001"]["layout"] == "submit zips"
    assert table["hopperben"]["canvas_user_id"] == "222" and table["hopperben"]["late"] == "yes"


def test_canvas_users_sharing_a_login_stay_apart_across_runs(tmp_path):
    """Two Canvas users with one login, then each alone: does each keep their own id?"""
    jo7, jo9 = Found("smithjo-7", "", "canvas", "7"), Found("smithjo-9", "", "canvas", "9")
    assert run(tmp_path, [jo7, jo9]) == ["smithjo-7", "smithjo-9"]
    assert run(tmp_path, [Found("smithjo", "", "canvas", "9")]) == ["smithjo-9"]
    # a new user with a login someone already has is told apart by their user id
    assert run(tmp_path, [Found("smithjo-7", "", "canvas", "8")]) == ["smithjo-7-8"]


def test_names_that_clash_get_stable_distinct_ids(tmp_path):
    """`Ada` and `ada` (one file on a case-insensitive disk): distinct ids, the same ones on
    the next run whatever order the folders come in?"""
    warnings: list[str] = []
    first = Identities.load(tmp_path, warn=warnings.append)
    ids = [first.resolve(Found(n, n)) for n in ("Ada", "ada")]
    first.save(tmp_path)
    assert ids[0] == "Ada" and ids[1].startswith("ada-") and len(warnings) == 1
    again = Identities.load(tmp_path)
    assert [again.resolve(Found(n, n)) for n in ("ada", "Ada")] == ids[::-1]


def test_two_submissions_with_one_id_are_refused(tmp_path):
    """A roster that gives two Canvas users one id: a clear error, not one student graded
    twice under one id?"""
    roster = [{"id": "s1", "lms_user_id": "1"}, {"id": "s1", "lms_user_id": "2"}]
    with pytest.raises(IdentityError, match="both resolve to student 's1'"):
        run(tmp_path, [Found("a", "a.ipynb", "canvas", "1"), Found("b", "b.ipynb", "canvas", "2")],
            roster)  # fmt: skip


def test_merge_folds_old_into_new_and_later_runs_follow(tmp_path):
    """An id split by an earlier run, merged: one row with both runs' values, and does the
    old name resolve to the new id from then on?"""
    run(tmp_path, [Found("lovelaceada", "x", "folders")])
    run(tmp_path, [ADA], ROSTER)  # split: s1001 from the roster, lovelaceada from before
    assert sorted(read_table(tmp_path)) == ["lovelaceada", "s1001"]
    identities = Identities.load(tmp_path)
    identities.merge("lovelaceada", "s1001")
    identities.save(tmp_path)
    assert sorted(read_table(tmp_path)) == ["s1001"]
    assert run(tmp_path, [Found("lovelaceada", "y", "folders")]) == ["s1001"]


def test_force_regrades_what_it_names_and_says_why(tmp_path):
    """A current result is kept, and graded again with force; a changed file and a notebook
    without a result are graded; does the run's note name each with its reason?"""
    from autograder.course import RELEASE
    from autograder.grading.executors.plan import describe, plan
    from autograder.grading.executors.student import StudentJob
    from autograder.results import write_json

    out = tmp_path / "out"
    files = {}
    for sid in ("ada", "ben", "cy"):
        files[sid] = tmp_path / sid / "01_numpy_gradients.ipynb"
        files[sid].parent.mkdir()
        files[sid].write_bytes((RELEASE / "01_numpy_gradients.ipynb").read_bytes())
    jobs = [StudentJob(s, "01_numpy_gradients", "ok", str(f)) for s, f in files.items()]
    for job in jobs[:2]:  # ada and ben graded before; cy is new
        write_json(job.result_path(out), {"key": job.key(), "status": "ok"})
    files["ben"].write_text(files["ben"].read_text() + " ")  # ben resubmitted
    assert plan(jobs, out) == {jobs[1]: "changed", jobs[2]: "new"}
    assert plan(jobs, out, force=True) == {jobs[0]: "forced", jobs[1]: "changed", jobs[2]: "new"}
    note = describe(plan(jobs, out, force=True), 3)
    assert "forced (1): ada 01_numpy_gradients" in note and "new (1): cy" in note


def test_outputs_are_readable_by_the_group_and_never_by_others(tmp_path):
    """Written 0600 as atomic_write writes them: after share, are files 0640 and folders
    0750 (the default), a mode that asks for world access still denied it, and a mode that
    is not octal a clear error?"""
    import stat

    from autograder.grading.reporting.outputs import share
    from cs231n_utils.files import atomic_write

    atomic_write(tmp_path / "scores.csv", "x")
    atomic_write(tmp_path / "feedback" / "ada.html", "x")
    atomic_write(tmp_path / "results" / "ada" / "01.json", "{}")  # not an output: stays private
    share(tmp_path)

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(tmp_path / "scores.csv") == mode(tmp_path / "feedback" / "ada.html") == 0o640
    assert mode(tmp_path / "feedback") == 0o750 and mode(tmp_path) & 0o077 == 0o050
    assert mode(tmp_path / "results" / "ada" / "01.json") == 0o600
    share(tmp_path, "666")
    assert mode(tmp_path / "scores.csv") == 0o660 and mode(tmp_path / "feedback") == 0o770
    with pytest.raises(ValueError, match="not an octal file mode"):
        share(tmp_path, "rw-r")
