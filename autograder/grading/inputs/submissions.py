"""Find each student's notebooks in a folder or a .zip of submissions, safely.

SUBMISSIONS holds one folder per student (the folder name is the student id) with that
student's notebooks, named as in the release, anywhere below it. A .zip of such a folder is
extracted first; an entry that would land outside the extraction folder (absolute paths,
`..`, links) is rejected with the whole archive, before anything is written.

Every expected notebook of every student gets a status, so one broken file costs only its
own points:
    ok        a readable notebook (nbformat 3 is upgraded to 4 and noted)
    missing   no file of that name in the student's folder
    invalid   present but unusable: not JSON, not a notebook, too old, too large, nested
              too deeply, ambiguous, or the student's folder is too deep or too large to search

Nothing about one student's folder stops the batch: folders are walked without recursion and
within bounds (MAX_DEPTH levels, MAX_ENTRIES entries), JSON nesting is measured before it is
parsed. Which student a folder is, identity.py decides (two folders whose names map to one id
are both graded, under distinct ids).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import stat
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from autograder.grading.inputs.identity import Found, Identities, shown

MAX_NOTEBOOK_BYTES = 20 * 2**20  # a finished course notebook is well under 1 MB
MAX_DEPTH = 32  # folder levels searched below a student's folder (and wrappers above them)
MAX_ENTRIES = 100_000  # files and folders visited in one student's folder
MAX_JSON_DEPTH = 64  # a notebook nests about 6 deep; json and nbformat recurse per level
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
        for entry in entries:  # the time each file was zipped: when it was handed in
            if not entry.is_dir():
                _set_mtime(root / entry.filename, entry.date_time)
    return dest


def _set_mtime(path: Path, date_time: tuple[int, ...]) -> None:
    try:
        stamp = datetime.datetime(*date_time).timestamp()
        os.utime(path, (stamp, stamp), follow_symlinks=False)
    except (OSError, ValueError, OverflowError):
        pass  # a file without a usable time keeps the extraction's


def _ignored_name(name: str) -> bool:
    return name in IGNORED_PARTS or name.startswith(".")


def _ignored(path: Path, base: Path) -> bool:
    parts = path.relative_to(base).parts
    return any(_ignored_name(p) for p in parts)


def _entries(folder: Path) -> list[os.DirEntry]:
    """The entries of a folder that are not debris (dot files, __MACOSX, ...), sorted."""
    with os.scandir(folder) as scan:
        return sorted((e for e in scan if not _ignored_name(e.name)), key=lambda e: e.name)


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def find_root(folder: Path, expected: set[str]) -> Path:
    """The folder whose subfolders are the students: descend through single wrapping folders
    (a zip of `submissions/` unpacks to one folder) until more than one entry appears or a
    notebook of the course sits directly inside (then `folder` is one student, not a class).
    At most MAX_DEPTH wrappers are passed: a deeper chain is taken as the class."""
    for _ in range(MAX_DEPTH):
        entries = _entries(folder)
        has_notebooks = any(e.name in expected and e.is_file() for e in entries)
        if len(entries) != 1 or not _is_folder(entries[0]) or has_notebooks:
            return folder
        inner = Path(entries[0].path)
        # a single student's folder holds notebooks; a wrapper holds folders
        if any(e.name in expected and e.is_file() for e in _entries(inner)):
            return folder
        folder = inner
    return folder


def json_depth(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest, counted without parsing it (the
    parsers recurse once per level). Brackets inside strings do not count."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        depth += 1 if token in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


_BRACKETS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _nbgrader_problem(nb: nbformat.NotebookNode) -> str:
    """Why the notebook's nbgrader metadata cannot be read, or "" (nbformat allows any value
    there; the grader expects a mapping, as nbgrader writes)."""
    for index, cell in enumerate(nb.cells):
        metadata = cell.get("metadata", {})
        if not isinstance(metadata.get("nbgrader", {}), dict):
            return f"cell {index} has nbgrader metadata that is not a mapping"
    return ""


def read_notebook(path: Path) -> tuple[str, str, nbformat.NotebookNode | None]:
    """(status, message, notebook) for one student file. Messages are the grader's words:
    nothing of the file's content is quoted."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        limit = MAX_NOTEBOOK_BYTES >> 20
        return "invalid", f"file is {size / 2**20:.0f} MB (limit {limit} MB)", None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid", "not a notebook: the file is not UTF-8 text", None
    if json_depth(text) > MAX_JSON_DEPTH:
        return "invalid", f"not a notebook: JSON nested more than {MAX_JSON_DEPTH} levels", None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return "invalid", f"not valid JSON (line {error.lineno}: {error.msg}); was it saved?", None
    except (RecursionError, ValueError):  # a nesting the depth count missed; huge numbers
        return "invalid", "not valid JSON the grader can read", None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return "invalid", "not a notebook: JSON without cells", None
    major = data.get("nbformat")
    if major not in (3, 4):
        shown = major if isinstance(major, int) else "of an unknown kind"
        return "invalid", f"nbformat {shown} is not supported (need 3 or 4)", None
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except RecursionError:
        return "invalid", "not a valid notebook: nested too deeply", None
    except Exception as error:  # nbformat raises several unrelated types for bad files
        return "invalid", f"not a valid notebook: {str(error).splitlines()[0][:200]}", None
    problem = _nbgrader_problem(nb)
    if problem:
        return "invalid", f"not a valid course notebook: {problem}", None
    note = "upgraded from nbformat 3" if major == 3 else ""
    return "ok", note, nb


class FolderTooLarge(Exception):
    """A student's folder is deeper or holds more entries than the grader searches."""


def walk(folder: Path, names: set[str]) -> list[Path]:
    """The files named one of `names` below `folder`, searched without recursion, skipping
    debris and links. Raises FolderTooLarge past MAX_DEPTH levels or MAX_ENTRIES entries."""
    found, stack, visited = [], [(folder, 0)], 0
    while stack:
        current, depth = stack.pop()
        for entry in _entries(current):
            visited += 1
            if visited > MAX_ENTRIES:
                raise FolderTooLarge(f"the folder holds more than {MAX_ENTRIES} entries")
            if _is_folder(entry):
                if depth + 1 >= MAX_DEPTH:
                    raise FolderTooLarge(f"the folder is nested more than {MAX_DEPTH} levels")
                stack.append((Path(entry.path), depth + 1))
            elif entry.name in names and entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    return found


def collect_student(folder: Path, expected: list[str], original_name: str, sid: str) -> Student:
    """Student `sid`'s notebooks in `folder`, each with a status."""
    found: dict[str, list[Path]] = {name: [] for name in expected}
    try:
        for path in walk(folder, set(expected)):
            found[path.name].append(path)
    except (FolderTooLarge, OSError) as error:
        why = str(error) if isinstance(error, FolderTooLarge) else "the folder cannot be read"
        notebooks = {
            name: NotebookFile(name, "invalid", message=f"not searched: {why}") for name in expected
        }
        return Student(sid, folder, original_name, notebooks)
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
        try:
            status, message, nb = read_notebook(paths[0])
        except OSError:
            status, message, nb = "invalid", "the file cannot be read", None
        notebooks[name] = NotebookFile(name, status, paths[0], message, nb)
    return Student(sid, folder, original_name, notebooks)


def _warn(message: str) -> None:
    print(f"cs231n-grade: warning: {message}", file=sys.stderr)


def discover(
    folder: Path,
    expected: list[str],
    warn: Callable[[str], None] = _warn,
    find: bool = True,
    resolve: Callable[[str], str] | None = None,
) -> list[Student]:
    """Every student under `folder` (already extracted), with a status per expected notebook.

    Stray files beside the student folders are ignored; an empty student folder yields a
    student whose notebooks are all `missing`. `resolve` maps a folder's name (as text,
    identity.shown) to its student id; by default a fresh identity.Identities resolves it,
    which grades two folders whose names map to one id (`Ada` and `ada` where case does not
    count) under distinct ids and calls `warn` once for each such pair.
    With find=False, `folder` holds the student folders (no wrapping folders are looked for).
    """
    if resolve is None:
        identities = Identities(warn=warn)

        def resolve(name: str) -> str:
            return identities.resolve(Found(name, name))

    root = find_root(folder, set(expected)) if find else folder
    students: list[Student] = []
    for entry in _entries(root):
        if _is_folder(entry):
            original = shown(entry.name)
            students.append(
                collect_student(Path(entry.path), expected, original, resolve(original))
            )
    return students
