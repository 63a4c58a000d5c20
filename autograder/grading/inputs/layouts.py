"""The submission layouts instructors have, each turned into one folder per student.

    folders     SUBMISSIONS/<student>/<notebook>.ipynb (at any depth): the folder name is
                the student id
    class zip   a .zip of such a folder
    submit zips SUBMISSIONS/<id>_dl_software.zip, one per student, as `cs231n-submit` writes
                them (<id>/<notebook> and <id>/environment.json inside): the id is the file
                name's part before `_dl_software.zip` (the stem for any other .zip)
    Canvas      the submissions download of a Canvas assignment (a .zip or its folder), whose
                files Canvas renames LOGIN[_LATE]_USERID_SUBMISSIONID_ORIGINAL, e.g.
                `lastnamefirstname_12345_67890_01_numpy_gradients.ipynb`; a file uploaded again
                gets `-N` before its extension (`01_numpy_gradients-1.ipynb`). The student is
                found as LOGIN (LOGIN-USERID where two users share a LOGIN) with the Canvas
                user id, the highest attempt N (then submission id) of each notebook is
                graded, and an uploaded .zip (a cs231n-submit zip) is unpacked as the
                student's folder.

Every archive goes through submissions.extract_zip (no entry outside its folder, no links, a
size cap), and all of a run's archives share one size budget. What was found comes back as
one identity.Found per student folder; which student id it is, identity.py decides.
Trusted side only: nothing here runs a kernel.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

from autograder.course import ASSIGNMENT
from autograder.grading.inputs.identity import Found, Identities, shown
from autograder.grading.inputs.submissions import (
    MAX_ARCHIVE_BYTES,
    Student,
    SubmissionsError,
    discover,
    extract_zip,
    find_root,
)

CANVAS = re.compile(
    r"^(?P<login>[A-Za-z0-9-]+?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$"
)
ATTEMPT = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+)(?P<ext>\.[A-Za-z]+)$")
SUBMIT_SUFFIX = f"_{ASSIGNMENT}.zip"


def layout_of(root: Path) -> str:
    """folders, canvas or submit zips, from what lies directly in `root`."""
    entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if any(p.is_dir() for p in entries):
        return "folders"
    if any(p.is_file() and CANVAS.match(p.name) for p in entries):
        return "canvas"
    if any(p.is_file() and p.suffix.lower() == ".zip" for p in entries):
        return "submit zips"
    return "folders"


class Budget:
    """What a run's archives may unpack to, all together."""

    def __init__(self, total: int | None = None):
        self.left = MAX_ARCHIVE_BYTES if total is None else total

    def extract(self, archive: Path, dest: Path) -> Path:
        try:
            with zipfile.ZipFile(archive) as zf:
                size = sum(e.file_size for e in zf.infolist())
        except (zipfile.BadZipFile, OSError) as error:
            raise SubmissionsError(f"{archive.name} is not a readable zip file") from error
        if size > self.left:
            raise SubmissionsError(
                f"{archive.name}: the submissions unpack to more than "
                f"{MAX_ARCHIVE_BYTES / 2**30:.0f} GiB in all; refusing"
            )
        self.left -= size
        return extract_zip(archive, dest)


def unpack(submissions: Path, work: Path, expected: set[str]) -> tuple[Path, dict[str, Found]]:
    """The folder of student folders for `submissions` (any layout above), and what each
    folder (by its name as text, identity.shown) was found as. Archives are unpacked below
    `work`, which is emptied first."""
    if work.exists():
        shutil.rmtree(work)
    budget = Budget()
    if submissions.is_file() and submissions.suffix.lower() == ".zip":
        submissions = budget.extract(submissions, work / "archive")
    if not submissions.is_dir():
        raise SubmissionsError(f"{submissions} is neither a folder nor a .zip file")
    root = find_root(submissions, expected)
    layout = layout_of(root)
    if layout == "canvas":
        return _canvas(root, work / "students", expected, budget)
    if layout == "submit zips":
        return _submit_zips(root, work / "students", budget)
    entries = {
        shown(p.name): Found(shown(p.name), shown(p.name), "folders")
        for p in sorted(root.iterdir())
        if p.is_dir() and not p.name.startswith((".", "__MACOSX"))
    }
    return root, entries


def students(
    root: Path, found: dict[str, Found], expected: list[str], identities: Identities
) -> list[Student]:
    """The students in `root` (unpack's folder), each under the id `identities` resolves
    what was found to (a folder unpack did not report is found under its own name)."""
    ids = {folder: identities.resolve(f) for folder, f in found.items()}
    return discover(
        root,
        expected,
        find=all(f.layout == "folders" for f in found.values()),
        resolve=lambda name: ids.get(name) or identities.resolve(Found(name, name)),
    )


def find_students(
    submissions: Path,
    out: Path,
    expected: list[str],
    roster: list[dict[str, str]] | None = None,
    wanted: list[str] | None = None,
) -> tuple[list[Student], Path]:
    """The students to grade (every one in `submissions`, or those `wanted` names by id or
    by the name found) and the folder they were found in, unpacked below OUT/submissions.
    Who each is, OUT's identity table decides (with `roster`); the mapping is printed where an
    id differs from the name found, and saved in OUT/students.csv."""
    identities = Identities.load(out, roster)
    root, found = unpack(submissions, out / "submissions", set(expected))
    chosen = students(root, found, expected, identities)
    if wanted:
        chosen = [s for s in chosen if s.id in wanted or s.original_name in wanted]
        unknown = set(wanted) - {s.id for s in chosen} - {s.original_name for s in chosen}
        if unknown:
            raise SubmissionsError(f"not in the submissions: {', '.join(sorted(unknown))}")
    moved = [(s.id, found.get(s.original_name)) for s in chosen]
    if any(f and f.name != sid for sid, f in moved):
        print("students (id <- found as):")
        for sid, f in moved:
            print(f"  {sid} <- {f.source if f else sid}{' (late)' if f and f.late else ''}")
    identities.save(out)
    return chosen, root


def _submit_zips(root: Path, students: Path, budget: Budget) -> tuple[Path, dict[str, Found]]:
    entries = {}
    for archive in sorted(root.glob("*")):
        if not archive.is_file() or archive.suffix.lower() != ".zip":
            continue
        name = archive.name
        sid = name[: -len(SUBMIT_SUFFIX)] if name.endswith(SUBMIT_SUFFIX) else archive.stem
        if not sid or (students / sid).exists():
            raise SubmissionsError(f"{name}: no student id, or one another zip has")
        budget.extract(archive, students / sid)
        entries[sid] = Found(sid, name, "submit zips")
    return students, entries


def _canvas(
    root: Path, students: Path, expected: set[str], budget: Budget
) -> tuple[Path, dict[str, Found]]:
    """Canvas's files, each student's latest attempt of each notebook in their folder."""
    chosen: dict[tuple[str, str], tuple[tuple[int, int], Path]] = {}  # (user, file) -> latest
    logins: dict[str, str] = {}  # user id -> login
    late: dict[str, bool] = {}
    for path in sorted(root.iterdir()):
        match = CANVAS.match(path.name)
        if not path.is_file() or match is None:
            continue
        user, original = match["user"], match["file"]
        attempt = ATTEMPT.match(original)
        number = 0
        if attempt and (
            f"{attempt['stem']}{attempt['ext']}" in expected or attempt["ext"].lower() == ".zip"
        ):
            original, number = f"{attempt['stem']}{attempt['ext']}", int(attempt["n"])
        if original.lower().endswith(".zip"):
            original = "submission.zip"
        elif original not in expected:
            continue
        logins[user] = match["login"].lower()
        late[user] = late.get(user, False) or bool(match["late"])
        rank = (number, int(match["submission"]))
        if (user, original) not in chosen or chosen[(user, original)][0] < rank:
            chosen[(user, original)] = (rank, path)
    shared = {login for login in logins.values() if list(logins.values()).count(login) > 1}
    ids = {u: f"{login}-{u}" if login in shared else login for u, login in logins.items()}
    for (user, original), (_, path) in sorted(chosen.items()):
        folder = students / ids[user]
        if original == "submission.zip":
            budget.extract(path, folder / "zip")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, folder / original)  # with its time: when it was handed in
    entries = {}
    for user in sorted(ids, key=ids.get):
        files = sorted(p.name for (u, _), (_, p) in chosen.items() if u == user)
        entries[ids[user]] = Found(ids[user], " ".join(files), "canvas", user, late[user])
    return students, entries
