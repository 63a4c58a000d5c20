"""Find each student's notebooks in a folder or a .zip of submissions, safely.

SUBMISSIONS holds one folder per student (the folder name is the student id) with that
student's notebooks, named as in the release, anywhere below it. A .zip of such a folder is
extracted first; an entry that would land outside the extraction folder (absolute paths,
`..`, links) is rejected with the whole archive, before anything is written.

Every expected notebook of every student gets a status, so one broken file costs only its
own points:
    ok        a readable notebook (nbformat 3 is upgraded to 4 and noted)
    missing   no file of that name in the student's folder
    invalid   present but unusable: not JSON, not a notebook, too old, too large, ambiguous
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

MAX_NOTEBOOK_BYTES = 20 * 2**20  # a finished course notebook is well under 1 MB
MAX_ARCHIVE_BYTES = 2 * 2**30  # total uncompressed size of a submissions zip
IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"}


class SubmissionsError(ValueError):
    """The submissions as a whole cannot be read (not one student's problem)."""


@dataclass
class NotebookFile:
    name: str  # the release's file name, e.g. "01_numpy_gradients.ipynb"
    status: str  # "ok", "missing" or "invalid"
    path: Path | None = None
    message: str = ""  # why it is invalid, or a note on an ok file
    nb: nbformat.NotebookNode | None = field(default=None, repr=False)


@dataclass
class Student:
    id: str  # safe for file names and the gradebook
    folder: Path
    original_name: str  # the folder's name as found, for the instructor's report
    notebooks: dict[str, NotebookFile]


def safe_id(name: str) -> str:
    """A student id made of letters, digits, '.', '_' and '-'. Names that needed changing get
    a short hash of the original, so two different names never map to one id."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._-") or "student"
    if cleaned == name:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    return f"{cleaned}-{digest}"


def extract_zip(archive: Path, dest: Path) -> Path:
    """Extract a submissions zip into dest after checking every entry; return dest.

    Raises SubmissionsError (and writes nothing) for an entry that escapes dest, a link,
    or an archive larger than MAX_ARCHIVE_BYTES uncompressed.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise SubmissionsError(f"{archive} is not a readable zip file: {error}") from error
    with zf:
        entries = zf.infolist()
        total = sum(e.file_size for e in entries)
        if total > MAX_ARCHIVE_BYTES:
            raise SubmissionsError(f"{archive} unpacks to {total / 2**30:.1f} GiB; refusing")
        root = dest.resolve()
        for entry in entries:
            path = PurePosixPath(entry.filename.replace("\\", "/"))
            target = (root / path).resolve()
            if path.is_absolute() or ".." in path.parts or not target.is_relative_to(root):
                raise SubmissionsError(
                    f"{archive}: entry {entry.filename!r} would be written outside the "
                    "extraction folder; the archive was rejected and nothing was extracted"
                )
            if stat.S_ISLNK(entry.external_attr >> 16):
                raise SubmissionsError(f"{archive}: entry {entry.filename!r} is a link; rejected")
        dest.mkdir(parents=True, exist_ok=True)
        zf.extractall(dest)
    return dest


def _ignored(path: Path, base: Path) -> bool:
    parts = path.relative_to(base).parts
    return any(p in IGNORED_PARTS or p.startswith(".") for p in parts)


def find_root(folder: Path, expected: set[str]) -> Path:
    """The folder whose subfolders are the students: descend through single wrapping folders
    (a zip of `submissions/` unpacks to one folder) until more than one entry appears or a
    notebook of the course sits directly inside (then `folder` is one student, not a class)."""
    while True:
        entries = [p for p in folder.iterdir() if not _ignored(p, folder)]
        dirs = [p for p in entries if p.is_dir() and not p.is_symlink()]
        has_notebooks = any(p.name in expected for p in entries if p.is_file())
        if len(dirs) == 1 and len(entries) == 1 and not has_notebooks:
            inner = dirs[0]
            inner_entries = [p for p in inner.iterdir() if not _ignored(p, inner)]
            # a single student's folder holds notebooks; a wrapper holds folders
            if any(p.is_file() and p.name in expected for p in inner_entries):
                return folder
            folder = inner
            continue
        return folder


def read_notebook(path: Path) -> tuple[str, str, nbformat.NotebookNode | None]:
    """(status, message, notebook) for one student file."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        limit = MAX_NOTEBOOK_BYTES >> 20
        return "invalid", f"file is {size / 2**20:.0f} MB (limit {limit} MB)", None
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "invalid", "not a notebook: the file is not UTF-8 text", None
    except json.JSONDecodeError as error:
        return "invalid", f"not valid JSON (line {error.lineno}: {error.msg}); was it saved?", None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return "invalid", "not a notebook: JSON without cells", None
    major = data.get("nbformat")
    if major not in (3, 4):
        return "invalid", f"nbformat {major} is not supported (need 3 or 4)", None
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several unrelated types for bad files
        return "invalid", f"not a valid notebook: {str(error).splitlines()[0]}", None
    note = "upgraded from nbformat 3" if major == 3 else ""
    return "ok", note, nb


def collect_student(folder: Path, expected: list[str], original_name: str) -> Student:
    found: dict[str, list[Path]] = {name: [] for name in expected}
    for path in sorted(folder.rglob("*")):
        if path.name in found and path.is_file() and not path.is_symlink():
            if not _ignored(path, folder):
                found[path.name].append(path)
    notebooks = {}
    for name in expected:
        paths = sorted(found[name], key=lambda p: (len(p.relative_to(folder).parts), str(p)))
        if not paths:
            notebooks[name] = NotebookFile(name, "missing", message="not submitted")
            continue
        depth = [len(p.relative_to(folder).parts) for p in paths]
        if len(paths) > 1 and depth[0] == depth[1]:
            where = ", ".join(str(p.relative_to(folder)) for p in paths[:3])
            notebooks[name] = NotebookFile(
                name, "invalid", message=f"ambiguous: several copies at one depth ({where})"
            )
            continue
        status, message, nb = read_notebook(paths[0])
        notebooks[name] = NotebookFile(name, status, paths[0], message, nb)
    return Student(safe_id(original_name), folder, original_name, notebooks)


def discover(folder: Path, expected: list[str]) -> list[Student]:
    """Every student under `folder` (already extracted), with a status per expected notebook.

    Stray files beside the student folders are ignored; an empty student folder yields a
    student whose notebooks are all `missing`.
    """
    root = find_root(folder, set(expected))
    students, seen = [], {}
    for entry in sorted(root.iterdir()):
        if _ignored(entry, root) or not entry.is_dir() or entry.is_symlink():
            continue
        original = entry.name
        try:
            original.encode("utf-8")
        except UnicodeEncodeError:  # a name that is not UTF-8 on disk (surrogate escapes)
            original = os.fsencode(entry.name).decode("utf-8", errors="backslashreplace")
        student = collect_student(entry, expected, original)
        if student.id in seen:
            raise SubmissionsError(
                f"student folders {seen[student.id]!r} and {original!r} map to one id"
            )
        seen[student.id] = original
        students.append(student)
    return students
