"""cs231n-grade --merge-students OLD=NEW --out OUT [--dry-run]: one student that an earlier
run split in two (graded once under a roster's id, once under a login) made one again.

    the table     OLD's row of OUT/students.csv folds into NEW's (identity.Identities.merge):
                  OLD and its logins become NEW's logins, so no later run splits them again
    results       OUT/results/<OLD>/<notebook>.json become NEW's where NEW has no result for
                  that notebook; where both have one, NEW's is kept and OLD's removed
    the gradebook OLD's hand scores and comments are copied onto NEW's cells that have none
                  (nbgrader's API), then OLD is removed from it (Gradebook.remove_student)
    the rest      OLD's feedback page and formgrader copy are removed, and every output is
                  rebuilt from OUT (outputs.finish)

With --dry-run each step is printed and nothing is changed. Trusted side only.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from autograder.course import ASSIGNMENT
from autograder.grading.inputs.identity import Identities, IdentityError, read_table
from autograder.grading.inputs.names import file_stem
from autograder.grading.reporting.outputs import SYNCED, all_results, finish, sync_gradebook
from autograder.results import NotebookResult, read_json, write_json


def parse_pair(text: str) -> tuple[str, str]:
    """OLD=NEW as two ids; raises IdentityError for anything else."""
    old, sep, new = text.partition("=")
    if not sep or not old or not new or old == new:
        raise IdentityError(f"--merge-students wants OLD=NEW (two different ids), not {text!r}")
    return old, new


def steps(out: Path, old: str, new: str) -> list[str]:
    """What merging OLD into NEW does in OUT, one line per step. Raises IdentityError when
    OLD is not a student of OUT."""
    table = read_table(out)
    if old not in table and not (out / "results" / file_stem(old)).is_dir():
        raise IdentityError(f"no student {old!r} in {out}/students.csv or {out}/results")
    found = [f"students.csv: {old!r} folded into {new!r}; {old!r} resolves to {new!r} from now"]
    for path in sorted((out / "results" / file_stem(old)).glob("*.json")):
        twin = out / "results" / file_stem(new) / path.name
        action = "removed (NEW has its own)" if twin.exists() else f"becomes {new!r}'s"
        found.append(f"results/{file_stem(old)}/{path.name}: {action}")
    found.append(
        f"gradebook: {old!r}'s hand grades copied onto {new!r}'s empty cells, then {old!r} removed"
    )
    found.append("every output rebuilt from OUT")
    return found


def _move_results(out: Path, old: str, new: str) -> None:
    source, target = out / "results" / file_stem(old), out / "results" / file_stem(new)
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.json")):
        data = read_json(path)
        if data is not None and not (target / path.name).exists():
            result = NotebookResult.from_json(data)
            result.student_id = new
            write_json(target / path.name, result.to_json())
    shutil.rmtree(source, ignore_errors=True)
    synced = read_json(out / SYNCED) or {}
    write_json(out / SYNCED, {k: v for k, v in synced.items() if not k.startswith(f"{old}/")})
    (out / "feedback" / f"{file_stem(old)}.html").unlink(missing_ok=True)
    shutil.rmtree(out / "autograded" / old, ignore_errors=True)


def _merge_gradebook(db_url: str, old: str, new: str) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gone = gb.find_student(old)
        except MissingEntry:
            return
        keep = gb.update_or_create_student(new)
        for field in ("first_name", "last_name", "email", "lms_user_id"):
            if not getattr(keep, field) and getattr(gone, field):
                setattr(keep, field, getattr(gone, field))
        try:
            before = gb.find_submission(ASSIGNMENT, old)
            after = gb.find_submission(ASSIGNMENT, new)
        except MissingEntry:
            before = after = None
        if before is not None:
            for notebook in before.notebooks:
                for grade in notebook.grades:
                    if grade.manual_score is None:
                        continue
                    twin = gb.find_grade(grade.name, notebook.name, ASSIGNMENT, new)
                    if twin.manual_score is None:
                        twin.manual_score = grade.manual_score
                        twin.needs_manual_grade = grade.needs_manual_grade
                for comment in notebook.comments:
                    twin = gb.find_comment(comment.name, notebook.name, ASSIGNMENT, new)
                    if comment.manual_comment and not twin.manual_comment:
                        twin.manual_comment = comment.manual_comment
            del after
        gb.db.commit()
        gb.remove_student(old)


def merge(out: Path, db_url: str, pair: str, dry_run: bool = False) -> int:
    """Merge OLD=NEW in OUT (see the module's docstring); 0 when done or planned."""
    old, new = parse_pair(pair)
    print(
        "\n".join(
            [
                f"merge {old!r} into {new!r}{' (dry run)' if dry_run else ''}:",
                *(f"  {line}" for line in steps(out, old, new)),
            ]
        )
    )
    if dry_run:
        print("dry run: nothing changed")
        return 0
    identities = Identities.load(out)
    if old in identities.table:
        identities.merge(old, new)
    identities.save(out)
    _move_results(out, old, new)
    sync_gradebook(out, db_url, all_results(out, []))  # NEW's cells exist before the copy
    _merge_gradebook(db_url, old, new)
    return finish(out, db_url, [], [])


def command(out: Path, db_url: str, pair: str, dry_run: bool) -> int:
    """`cs231n-grade --merge-students OLD=NEW`: the merge, or an exit with the reason."""
    try:
        return merge(out, db_url, pair, dry_run)
    except IdentityError as error:
        raise SystemExit(f"cs231n-grade: {error}") from None
