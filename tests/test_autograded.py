"""The autograded notebooks formgrader shows hand graders: rendered as formgrader renders them,
they carry no script, handler or forged verdict from the student, and every protected cell of
the release once, with the grader's verdict under each test."""

from __future__ import annotations

import base64
import copy
import json
from html.parser import HTMLParser

import nbformat
import pytest

from autograder.course import RELEASE, SAMPLES
from autograder.grading.reporting.autograded import write_autograded
from autograder.notebooks import grade_id, read
from autograder.protected import is_protected, restore_protected
from autograder.redaction import safe_outputs
from autograder.results import NotebookResult, QuestionResult
from autograder.safe_markdown import safe_markdown

NOTEBOOK = "01_numpy_gradients"
FORGED = "OK all hidden tests passed"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
SVG = base64.b64encode(b"<svg onload='alert(5)'></svg>").decode()
RESOURCES = {"assignment_id": "dl_software", "notebook_id": NOTEBOOK, "submission_id": "s",
             "index": 0, "total": 1, "base_url": "", "student": "ada", "last_name": "",
             "first_name": "", "notebook_path": "x"}  # fmt: skip


def render(path) -> str:
    """The page formgrader serves for an autograded notebook: nbconvert's HTMLExporter with
    the settings nbgrader's FormgradeExtension gives it (template 'formgrade')."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    html, _ = HTMLExporter(config=config).from_filename(str(path), resources=dict(RESOURCES))
    return html


class Elements(HTMLParser):
    """Every script element's text and src, and every event-handler attribute."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.handlers += [f"{tag} {name}" for name, _ in attrs if name.startswith("on")]
        if tag == "script":
            self._in_script = True
            self.scripts.append(dict(attrs).get("src") or "")

    def handle_endtag(self, tag):
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def code(source: str, outputs: list, execution_count=1) -> dict:
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs, cell.execution_count = outputs, execution_count
    return cell


def hostile_notebook() -> nbformat.NotebookNode:
    """The complete sample, attacked: outputs that run code, forged verdicts under test
    cells, markdown with scripts and handlers, tests deleted, retyped and duplicated."""
    nb = read(SAMPLES / "complete" / f"{NOTEBOOK}.ipynb")
    by_id = {grade_id(c): c for c in nb.cells if grade_id(c)}
    html = {"output_type": "display_data", "metadata": {},
            "data": {"text/html": f"<script>alert(1)</script><b>{FORGED}</b>"}}  # fmt: skip
    forged = [html, {"output_type": "stream", "name": "stdout", "text": FORGED + "\n"}]
    by_id["test_two_layer_loss"].outputs = copy.deepcopy(forged)  # under a test cell
    by_id["setup"].outputs = copy.deepcopy(forged)  # under a locked cell
    by_id["setup"].source += "\nprint('edited')"
    student = code("plot()", [
        {"output_type": "display_data", "metadata": {"image/png": {"width": '1 onload=x'}},
         "data": {"application/javascript": "alert(2)", "text/plain": "a plot",
                  "image/png": PNG, "image/svg+xml": "<svg onload='alert(3)'/>",
                  "application/vnd.jupyter.widget-view+json": {"model_id": "m"}}},
        {"output_type": "execute_result", "metadata": {}, "execution_count": 3,
         "data": {"text/html": "<img src=x onerror=alert(4)>", "text/markdown": "**md**"}},
        {"output_type": "error", "ename": "<script>Evil</script>", "evalue": "secret",
         "traceback": ["<script>alert(6)</script>"]},
        {"output_type": "error", "ename": "TypeError", "evalue": "leak", "traceback": ["leak"]},
    ])  # fmt: skip
    markdown = nbformat.v4.new_markdown_cell(
        'My notes <script>alert("md")</script> and <img src=x onerror=alert(7)>\n\n'
        "`a < b` and $x<y$"
    )
    figure = nbformat.v4.new_markdown_cell("![plot](attachment:plot.png)")
    figure.attachments = {"plot.png": {"image/png": PNG}, "vector.svg": {"image/svg+xml": SVG}}
    cited = nbformat.v4.new_markdown_cell("![vector](attachment:vector.svg) <b>dropped</b>")
    cited.attachments = {"vector.svg": {"image/svg+xml": SVG}}
    raw = nbformat.v4.new_raw_cell("<script>alert(8)</script>")
    impostor = code("print(1)", [])
    forged_id = '"><script>alert(9)</script>'
    impostor.metadata = {"nbgrader": {"grade": True, "grade_id": forged_id, "points": 99,
                                      "solution": False, "locked": False}}  # fmt: skip
    nb.cells[3:3] = [student, markdown, figure, cited, raw, impostor]
    retyped = by_id["test_training"]
    retyped.cell_type = "markdown"
    del retyped["outputs"], retyped["execution_count"]
    retyped.source = f"<b>{FORGED}</b>"
    duplicate = copy.deepcopy(by_id["test_two_layer_gradients"])
    duplicate.source, duplicate.id = "assert True", "dup"
    nb.cells.append(duplicate)
    nb.cells.remove(by_id["test_graph_gradients"])  # deleted
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def result() -> NotebookResult:
    questions = [
        QuestionResult("test_graph_gradients", 2.0, 2, "ok"),
        QuestionResult("test_two_layer_loss", 0.0, 1, "ok", ["loss: expected 2.3, got 0"]),
        QuestionResult("test_two_layer_gradients", 3.0, 3, "ok"),
        QuestionResult("test_training", 0.0, 2, "timeout", ["a cell this question needs ..."]),
        QuestionResult("test_numerical_gradient", 2.0, 2, "ok"),
        QuestionResult("written_framework", None, 2, "hand"),
    ]
    return NotebookResult("ada", NOTEBOOK, "ok", "key", questions)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("autograded")
    submitted = folder / "submitted.ipynb"
    submitted.write_text(json.dumps(hostile_notebook()))  # as sent: nbformat would refuse it
    path = write_autograded(folder / "out", result(), submitted)
    return path, read(path), render(path)


def test_rendered_page_runs_nothing_from_the_student(written):
    """Rendered as formgrader renders it, does the page hold exactly the scripts of the
    untouched release's page, no event-handler attribute and no forged verdict?"""
    path, _, html = written
    clean = path.with_name("release.ipynb")
    clean.write_text(nbformat.writes(read(RELEASE / f"{NOTEBOOK}.ipynb")))
    page, baseline = Elements(html), Elements(render(clean))
    assert page.scripts == baseline.scripts
    assert page.handlers == baseline.handlers  # formgrader's own buttons
    for forbidden in (FORGED, "alert(2)", "alert(3)", "alert(4)", "alert(6)", "alert(9)",
                      "Evil", "secret", "leak", "widget", "**md**", SVG):  # fmt: skip
        assert forbidden not in html, forbidden


def test_student_text_stays_readable(written):
    """Do the student's markdown (raw HTML as text), images and plain outputs still show,
    and is markdown citing an attachment that was dropped shown literally?"""
    _, nb, html = written
    assert "My notes &lt;script&gt;alert(" in html and "&lt;img src=x onerror" in html
    assert "<code>a &lt; b</code>" in html
    assert f"data:image/png;base64,{PNG}" in html  # an output, and the figure's attachment
    [figure] = [c for c in nb.cells if "attachment:plot.png" in c.source]
    assert list(figure.attachments) == ["plot.png"]
    [cited] = [c for c in nb.cells if "attachment:vector.svg" in c.source]
    assert "shown as written" in cited.source and "attachments" not in cited
    assert "TypeError (the message and traceback are not shown by the grader)" in html
    assert "a plot" in json.dumps(nb)  # kept, though the PNG is what nbconvert shows


def test_protected_cells_are_the_releases_once_each(written):
    """Is every protected cell of the release there exactly once, in release order, as code,
    with the release's source and metadata, and a checksum nbgrader accepts?"""
    from nbgrader.utils import compute_checksum

    _, nb, _ = written
    release = read(RELEASE / f"{NOTEBOOK}.ipynb")
    protected = [c for c in release.cells if is_protected(c)]
    got = [c for c in nb.cells if grade_id(c) in {grade_id(p) for p in protected}]
    assert [grade_id(c) for c in got] == [grade_id(p) for p in protected]
    for cell, original in zip(got, protected, strict=True):
        assert (cell.cell_type, cell.source) == (original.cell_type, original.source)
        assert cell.metadata == original.metadata
        assert compute_checksum(cell) == cell.metadata.nbgrader.checksum
    graded = [grade_id(c) for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    expected = [grade_id(c) for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert graded == expected  # formgrader finds each grade cell once; no impostor


def test_test_cells_show_only_the_graders_verdict(written):
    """Does each test cell have one output, the grader's verdict for its question?"""
    _, nb, html = written
    cells = {grade_id(c): c for c in nb.cells if grade_id(c)}
    assert [o.text for o in cells["test_two_layer_loss"].outputs] == [
        "Grader: 0 / 1 points\nloss: expected 2.3, got 0\n"
    ]
    assert cells["test_training"].outputs[0].text.startswith("Grader: 0 / 2 points\nran out")
    assert cells["setup"].outputs == []
    assert "Grader: 2 / 2 points" in html


def test_notebook_keeps_only_safe_metadata(written):
    """Is the notebook's metadata the release's (no widget state), and is it valid?"""
    _, nb, _ = written
    assert nb.metadata == read(RELEASE / f"{NOTEBOOK}.ipynb").metadata
    nbformat.validate(nb)


def test_restore_puts_back_deleted_retyped_and_duplicated_tests():
    """Does restore_protected put a deleted test back where the release has it among the
    protected cells (the runner's order), restore a retyped one and keep a duplicate once,
    saying so?"""
    nb, notes = restore_protected(read(RELEASE / f"{NOTEBOOK}.ipynb"), hostile_notebook())
    ids = [grade_id(c) for c in nb.cells]
    assert ids.index("graph_forward_backward") < ids.index("test_graph_gradients")
    assert ids.index("test_graph_gradients") < ids.index("test_two_layer_loss")
    assert ids.count("test_two_layer_gradients") == 1
    assert "test_graph_gradients was deleted: put back" in notes
    assert "test_training was made a markdown cell: restored" in notes
    assert "setup was edited: restored" in notes
    assert "test_two_layer_gradients appeared more than once: kept once" in notes


@pytest.mark.parametrize(
    "source",
    [
        "[click](javascript:alert(1))",
        "[click](JaVa&#115;cript:alert(1))",
        "```mermaid\n<img src=x onerror=alert(1)>\n```",
        "<a href='https://x' onclick='alert(1)'>x</a>",
        "$\\href{javascript:alert(1)}{x}$",
        "# notebook",
        "<!-- hidden --><style>body{display:none}</style>",
    ],
)
def test_markdown_that_cannot_be_escaped_is_shown_as_code(source):
    """Is markdown whose links, mermaid blocks, macros or heading ids would be unsafe shown
    literally, as a code block, rather than rendered?"""
    from autograder.safe_markdown import render

    safe, _ = safe_markdown(source)
    html = render(safe, {})
    assert Elements(html).handlers == [] and "javascript:" not in html.split("<pre>")[0]
    assert "<style" not in html and 'id="notebook"' not in html


def test_only_inert_outputs_survive():
    """Are outputs rebuilt with only text, PNG and JPEG, no metadata, and bad base64 dropped?"""
    outputs = safe_outputs([
        {"output_type": "display_data", "metadata": {"x": 1},
         "data": {"image/png": 'AAAA" onload="x', "text/plain": "t", "text/html": "<b>"}},
        {"output_type": "update_display_data", "data": {"text/plain": "u"}, "metadata": {}},
        {"output_type": "stream", "name": "<b>", "text": ["a", "b"]},
    ])  # fmt: skip
    assert [dict(o) for o in outputs] == [
        {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "t"}},
        {"output_type": "stream", "name": "stdout", "text": "ab"},
    ]
