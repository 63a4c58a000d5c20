"""What of a student's kernel and notebook may be shown to a person: the trust boundary.

Everything a student's kernel says, and everything a submitted notebook holds, is an
adversary's text. It reaches a student's feedback page or a hand grader's formgrader page only
through this module, which lets pass fixed words (an exception kind from EXCEPTION_KINDS) and
the few output types a browser shows as inert data (plain text, PNG, JPEG); everything else is
dropped or replaced by the grader's own wording. This module imports nothing that runs in a
kernel.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re

import nbformat

from autograder.notebooks import grade_id
from autograder.protected import is_answer, is_protected, set_type
from autograder.safe_markdown import safe_markdown

EXCEPTION_KINDS = tuple(
    """
    AssertionError AttributeError CheckFailed FloatingPointError ImportError IndentationError
    IndexError KeyError KeyboardInterrupt LookupError MemoryError ModuleNotFoundError NameError
    NotImplementedError OSError OverflowError RecursionError RuntimeError StopIteration
    SyntaxError SystemExit TabError TimeoutError TypeError UnboundLocalError ValueError
    ZeroDivisionError
    """.split()
)
OTHER_KIND = "another exception"

SAFE_MIME = ("text/plain", "image/png", "image/jpeg")
MAX_TEXT_CHARS = 20_000  # per output: a page a hand grader can scroll, not a flood
SHORTENED = "\n[output shortened by the grader]"
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")


def exception_kind(name: str | None) -> str:
    """`name` if it is one of EXCEPTION_KINDS, otherwise "another exception": the kernel chose
    the name, so only names from the fixed list pass."""
    return name if isinstance(name, str) and name in EXCEPTION_KINDS else OTHER_KIND


def error_kind(error: str | None) -> str | None:
    """The exception kind of a kernel error "Name: message" (CellOutcome.error), or None when
    there was no error. The message never passes."""
    if error is None:
        return None
    return exception_kind(str(error).split(":", 1)[0].strip())


def withhold_secrets(text: str, secret_lines: set[str] | frozenset[str]) -> str:
    """`text` without the lines that contain a line of hidden test source."""
    lines = [line for line in str(text).splitlines() if not any(s in line for s in secret_lines)]
    return "\n".join(lines) if lines else "(message withheld)"


def with_article(kind: str) -> str:
    """ "a TypeError", "an AssertionError", "another exception"."""
    if kind == OTHER_KIND:
        return kind
    return f"{'an' if kind[0] in 'AEIOU' else 'a'} {kind}"


def _text(value) -> str:
    text = "".join(value) if isinstance(value, list) else str(value)
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + SHORTENED


def _image(value) -> str | None:
    """Base64 image data, or None when it is not base64 (it is written into an attribute)."""
    data = "".join(value) if isinstance(value, list) else value
    if not isinstance(data, str) or not _BASE64.fullmatch(data):
        return None
    try:
        base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return data


def safe_bundle(bundle: dict) -> dict:
    """A MIME bundle (output data, a markdown attachment) with only SAFE_MIME types kept."""
    kept = {}
    for mime in SAFE_MIME:
        if mime not in bundle:
            continue
        value = _text(bundle[mime]) if mime == "text/plain" else _image(bundle[mime])
        if value is not None:
            kept[mime] = value
    return kept


def safe_attachments(cell) -> dict:
    """A markdown cell's attachments that are PNG or JPEG images of valid base64."""
    attachments = cell.get("attachments") if cell.get("cell_type") == "markdown" else None
    kept = {}
    for name, bundle in attachments.items() if isinstance(attachments, dict) else []:
        images = safe_bundle(bundle) if isinstance(bundle, dict) else {}
        images.pop("text/plain", None)
        if images and isinstance(name, str):
            kept[name] = images
    return kept


def _count(value) -> int | None:
    return value if type(value) is int and value >= 0 else None


def safe_outputs(outputs: list) -> list[nbformat.NotebookNode]:
    """One code cell's outputs, rebuilt from scratch with only what shows as inert data.

    Streams keep their text; display data and results keep text/plain, PNG and JPEG (no
    metadata: width, height and alt are written into attributes); an error keeps its kind if
    it is in EXCEPTION_KINDS and a fixed traceback. Anything else is dropped.
    """
    safe = []
    for output in outputs if isinstance(outputs, list) else []:
        kind = output.get("output_type") if isinstance(output, dict) else None
        if kind == "stream":
            name = "stderr" if output.get("name") == "stderr" else "stdout"
            safe.append(
                nbformat.v4.new_output("stream", name=name, text=_text(output.get("text", "")))
            )
        elif kind in ("display_data", "execute_result"):
            data = output.get("data")
            bundle = safe_bundle(data) if isinstance(data, dict) else {}
            if not bundle:
                continue
            if kind == "execute_result":
                count = _count(output.get("execution_count"))
                safe.append(nbformat.v4.new_output(kind, data=bundle, execution_count=count))
            else:
                safe.append(nbformat.v4.new_output(kind, data=bundle))
        elif kind == "error":
            ename = exception_kind(output.get("ename"))
            safe.append(
                nbformat.v4.new_output(
                    "error",
                    ename=ename,
                    evalue="",
                    traceback=[f"{ename} (the message and traceback are not shown by the grader)"],
                )
            )
    return safe


def safe_cell(cell, number: int, reserved_ids: set[str]) -> nbformat.NotebookNode | None:
    """A student's cell as a hand grader may see it, without nbgrader metadata (the caller
    gives the course's where it belongs) and with id "student-<number>"; None for a cell of an
    unknown type. A raw cell becomes markdown: nbconvert writes raw cells into the page as
    they are."""
    source = _text_source(cell.get("source", ""))
    cell_type = cell.get("cell_type")
    if cell_type == "code":
        new = nbformat.v4.new_code_cell(
            source,
            outputs=safe_outputs(cell.get("outputs", [])),
            execution_count=_count(cell.get("execution_count")),
        )
    elif cell_type in ("markdown", "raw"):
        source, kept = safe_markdown(source, safe_attachments(cell), reserved_ids)
        new = nbformat.v4.new_markdown_cell(source)
        if kept:
            new.attachments = kept
    else:
        return None
    new.id = f"student-{number}"
    return new


def _text_source(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def reserved_ids(release: nbformat.NotebookNode) -> set[str]:
    """Element ids formgrader gives a notebook's graded cells (scores, comments)."""
    ids = set()
    for cell in release.cells:
        gid = grade_id(cell)
        if gid:
            ids |= {gid, f"{gid}-comment", f"{gid}_extra_credit"}
    return ids


def safe_notebook(
    nb: nbformat.NotebookNode, release: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """A student's notebook rebuilt from what a hand grader may see, for formgrader.

    The notebook's metadata is the release's (a student's could carry widget state, which
    makes nbconvert load and run widget code). A cell with a grade id of the release takes the
    release's metadata and type, and a protected one its source too, without outputs; the
    first of each only. Every other cell goes through `safe_cell`. Protected cells the student
    deleted are not put back here: protected.restore_protected does that.
    """
    release_cells = {grade_id(c): c for c in release.cells if grade_id(c)}
    ids = reserved_ids(release)
    safe = nbformat.v4.new_notebook(metadata=copy.deepcopy(release.metadata))
    safe.nbformat_minor = max(release.nbformat_minor, 5)
    seen: set[str] = set()
    for number, cell in enumerate(nb.cells):
        gid = grade_id(cell)
        original = release_cells.get(gid) if gid not in seen else None
        if original is not None and is_protected(original):
            new = copy.deepcopy(original)
            if new.cell_type == "code":
                new.outputs, new.execution_count = [], None
        elif original is not None and is_answer(original):
            as_release = copy.deepcopy(cell)
            set_type(as_release, original.cell_type)
            new = safe_cell(as_release, number, ids)
            new.metadata = copy.deepcopy(original.metadata)
        else:
            new = safe_cell(cell, number, ids)
        if new is None:
            continue
        if original is not None:
            seen.add(gid)
            new.id = original.get("id", f"graded-{number}")
        safe.cells.append(new)
    return safe
