"""Names derived from student ids: gradebook ids and file names of bounded length.

A student id comes from a folder name in the class's export, which the grader does not
choose: it may be 250 characters long, hold spaces, accents or bytes that are not UTF-8.
Every file the grader writes for a student (results, feedback, kernel scratch folders,
cgroups) is named by `file_stem`, which is short and safe on any file system; the gradebook
and scores.csv keep the id, which `student_id` bounds to what nbgrader's gradebook stores.
Trusted side only: nothing here runs in a student's kernel.
"""

from __future__ import annotations

import hashlib
import os
import re

MAX_ID_CHARS = 128  # nbgrader.api.Student.id is String(128)
MAX_STEM_CHARS = 40  # the readable prefix of a file stem; a hash follows it
HASH_CHARS = 10  # in a file stem
ID_HASH_CHARS = 8  # in an id, as ids have had it since the first run: the gradebook keeps them
UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def digest(name: str, chars: int = HASH_CHARS) -> str:
    """A short hash of a name, surrogate-escaped bytes (non-UTF-8 folder names) included."""
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:chars]


def _cleaned(name: str, chars: int) -> str:
    return UNSAFE.sub("_", name)[:chars].strip("._-") or "student"


def student_id(name: str) -> str:
    """A gradebook id for a student folder: letters, digits, '.', '_' and '-', at most
    MAX_ID_CHARS long. A name that needed changing gets a hash of the original, so two
    different names never map to one id; a safe id maps to itself."""
    if UNSAFE.search(name) is None and name == name.strip("._-") and 0 < len(name) <= MAX_ID_CHARS:
        return name
    prefix = _cleaned(name, MAX_ID_CHARS - ID_HASH_CHARS - 1)
    return f"{prefix}-{digest(name, ID_HASH_CHARS)}"


def file_stem(student_id: str) -> str:
    """The name of a student's files (results/<stem>/, feedback/<stem>.html, kernel scratch
    folders and cgroups): at most MAX_STEM_CHARS + 1 + HASH_CHARS characters, safe on any file
    system. A short safe id in lower case is its own stem; any other id gets a cleaned prefix
    and a hash of the whole id, so ids that differ only in case or length do not share files
    on a case-insensitive file system."""
    short = len(student_id) <= MAX_STEM_CHARS + 1 + HASH_CHARS
    if short and UNSAFE.search(student_id) is None and student_id == student_id.lower():
        if student_id and student_id == student_id.strip("._-"):
            return student_id
    return f"{_cleaned(student_id, MAX_STEM_CHARS)}-{digest(student_id)}"
