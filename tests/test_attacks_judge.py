"""Attacks on the judge and the parser in front of it, written as a student who reads our code
would write them: answers documents built to exhaust the grader's memory, and answers that
are malformed, duplicated, oddly typed or full of NaN. Each earns no more than the honest
partial score, costs only its own question, and never raises in the grader.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import NEEDS_SANDBOX
from documents import document

from autograder.course import SAMPLES
from autograder.grading.judging.answers import MAX_DOCUMENT_BYTES, parse
from autograder.grading.judging.judge import judge
from cs231n_utils import graded

NOTEBOOK = "01_numpy_gradients"
RSS_BOUND = 500 * 2**20  # the grader's peak resident memory, whatever a submission sends

# A student cell that replaces the probe's answers with a bomb for the 3rd, 4th and 5th
# graded tests (the probe function is looked up on the module, which the kernel owns):
# 32 MiB of `[],` (the 3.27 GB), a dict of 16 MiB of `[],` (just under the byte cap,
# so that the value count refuses it) and 100,000 levels of nesting.
BOMBS = """
import cs231n_utils.graded as _g
_real_probe, _probes = _g.run_probe, []
def _bombing_probe(source, max_bytes):
    _probes.append(source)
    answers = _real_probe(source, max_bytes)
    if len(_probes) == 3:
        return _g.Answers('{"answers": [' + '[],' * ((2**24 - 40) // 3) + '[]], "end": "ok"}')
    if len(_probes) == 4:
        return _g.Answers('[' + '[],' * ((2**25 - 3) // 3) + '[]]')
    if len(_probes) == 5:
        return _g.Answers('[' * 100_000 + ']' * 100_000)
    return answers
_g.run_probe = _bombing_probe
"""


def same_bombs() -> tuple[str, ...]:
    """The three bombs as the kernel sends them: 16 MiB, 32 MiB and 200 KB."""
    return (
        '{"answers": [' + "[]," * ((2**24 - 40) // 3) + '[]], "end": "ok"}',
        "[" + "[]," * ((2**25 - 3) // 3) + "[]]",
        "[" * 100_000 + "]" * 100_000,
    )


# Grades the submission at PATH in this process, as a worker does (student.grade_submission,
# a real sandboxed kernel), against the solution's answers from its own sandboxed run; the
# peak resident memory (VmHWM) is reset after the references were made, and read after.
GRADE = """
import json, sys
from pathlib import Path
from autograder.grading.executors import references, student
from autograder.grading.executors.jobs import Settings
from autograder.grading.executors.student import StudentJob
settings = Settings()
refs = references.run_solution(0, NOTEBOOK, 0, settings)["documents"]
job = StudentJob("bomber", NOTEBOOK, "ok", PATH)
Path("/proc/self/clear_refs").write_text("5")
returned = student.grade_submission(0, job.submission(), refs, settings)
status = Path("/proc/self/status").read_text().splitlines()
peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(json.dumps({"peak": peak, "result": returned["result"]}))
"""


def bombing_submission(folder) -> str:
    import nbformat

    from autograder.notebooks import grade_id

    nb = nbformat.read(SAMPLES / "complete" / f"{NOTEBOOK}.ipynb", as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "setup")
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(BOMBS))
    path = folder / f"{NOTEBOOK}.ipynb"
    nbformat.write(nb, path)
    return str(path)


@pytest.mark.slow
@NEEDS_SANDBOX
def test_answer_bombs_leave_the_grader_small_and_cost_their_questions(tmp_path):
    """A complete notebook whose kernel hands back a 32 MiB `[],` document, a 16 MiB dict of
    `[],` and 100,000 levels of nesting for three of its five questions: does the grader
    stay under 500 MB at its peak, score those three 0 as "too large" (or no document), and
    keep the other two questions' points and the written answer for its hand grader?"""
    code = textwrap.dedent(GRADE).replace("NOTEBOOK", repr(NOTEBOOK))
    code = code.replace("PATH", repr(bombing_submission(tmp_path)))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"grader peak RSS: {report['peak'] / 2**20:.0f} MiB")
    result = report["result"]
    points = {q["question"]: (q["points"], q["status"]) for q in result["questions"]}
    assert result["status"] == "ok", result
    assert points == {
        "test_graph_gradients": (2.0, "ok"),
        "test_two_layer_loss": (1.0, "ok"),
        "test_two_layer_gradients": (0.0, "ok"),
        "test_training": (0.0, "ok"),
        "test_numerical_gradient": (0.0, "ok"),
        "written_framework": (None, "hand"),
    }, points
    reasons = {q["question"]: q["messages"] for q in result["questions"]}
    assert reasons["test_two_layer_gradients"] == ["the answers were too large to grade"]
    assert reasons["test_numerical_gradient"] == ["the answers were too large to grade"]
    assert report["peak"] < RSS_BOUND, report["peak"]


# ------------------------------------------------------------------ hand-made, in-process


recorded = document


W = np.arange(6.0).reshape(2, 3)
EPOCHS = np.array([[2, 0, 1, 3], [1, 3, 0, 2]])
REFERENCE = recorded(
    ("w", W, {"case": "two rows"}),
    ("params", [W, np.ones(3)], {}),
    ("epochs", EPOCHS, {"rule": "permutations"}),
    ("again", EPOCHS, {"rule": "same_as", "of": "epochs"}),
)


def honest_partial() -> dict:
    """A student who got `w` right and nothing else: the reference with the rest wrong."""
    return recorded(("w", W, {}), ("params", [W, np.zeros(3)], {}),
                    ("epochs", np.zeros((2, 4)), {}), ("again", np.zeros((2, 4)), {}))  # fmt: skip


def test_the_honest_partial_answer_fails_and_the_full_one_passes():
    assert not judge(honest_partial(), REFERENCE).passed
    assert judge(REFERENCE, REFERENCE).passed


def _with(document: dict, index: int, **changes) -> dict:
    document = json.loads(json.dumps(document))
    document["answers"][index].update(changes)
    return document


ATTACKS = {
    # the same name twice, so that `same_as` compares with an answer of the attacker's choice
    "duplicate_names": {"answers": [*honest_partial()["answers"][:2],
                                    *recorded(("epochs", EPOCHS, {}), ("epochs", EPOCHS, {}),
                                              ("again", EPOCHS, {}))["answers"]], "end": "ok"},
    # a list of arrays whose length is not the solution's: one array more, one fewer
    "longer_list": _with(honest_partial(), 1, value=graded.encode([W, np.ones(3), W])),
    "shorter_list": _with(honest_partial(), 1, value=graded.encode([W])),
    # a list of strings (unicode, right-to-left marks, markup) where arrays are expected
    "unicode_values": _with(honest_partial(), 1,
                            value={"t": "values", "v": ["\u202e<b>é😀</b>" * 20] * 1000}),
    "huge_strings": _with(honest_partial(), 1, value={"t": "values", "v": ["x" * 10**6]}),
    # NaN and inf wherever a number goes, and in the kernel's own claims
    "nan_everywhere": _with(honest_partial(), 1, value={"t": "list", "items": [
        {"t": "array", "shape": [2, 3], "data": [float("nan")] * 6},
        {"t": "array", "shape": [3], "data": [float("inf")] * 3}]},
        tol=float("nan"), rule="true", visible=True, params={"bound": float("inf")}),
    "nan_permutations": _with(honest_partial(), 2, value=graded.encode(np.full((2, 4), np.nan))),
    "bools_for_numbers": _with(honest_partial(), 1, value={"t": "list", "items": [
        {"t": "array", "shape": [2, 3], "data": [True] * 6}]}),
    "declared_huge_shape": _with(honest_partial(), 1, value={"t": "list", "items": [
        {"t": "array", "shape": [2**40, 2**40], "data": []}]}),
    "zero_dim_for_list": _with(honest_partial(), 1, value=graded.encode(np.float64(1.0))),
    "empty_list": _with(honest_partial(), 1, value={"t": "list", "items": []}),
    # the answers at the end repeated, as if the document had arrived twice
    "arrived_twice": {"answers": honest_partial()["answers"] * 2, "end": "ok"},
    "too_many_answers": {"answers": honest_partial()["answers"] * 600, "end": "ok"},
    "end_is_not_text": {**honest_partial(), "end": {"ok": True}},
    "end_nan": {**honest_partial(), "end": float("nan")},
}  # fmt: skip


@pytest.mark.parametrize("name", ATTACKS)
def test_no_attack_earns_more_than_the_honest_partial_score(name):
    """Does each malformed, duplicated or NaN-filled document fail (the honest partial
    answer fails too), in the grader's fixed words, without an exception?"""
    verdict = judge(ATTACKS[name], REFERENCE)
    assert not verdict.passed
    text = " ".join(verdict.messages)
    assert "\u202e" not in text and "😀" not in text and "nan" not in text.lower()


def test_a_document_arriving_twice_is_judged_once():
    """A notebook with a graded test duplicated and every other cell displaying an answers
    document too: does the runner hand each question's document to the judge exactly once,
    so that a second, forged document cannot add or replace a verdict?"""
    import copy

    import nbformat

    from autograder.grading.executors.jobs import course
    from autograder.grading.isolation.kernel import CellOutcome, Limits
    from autograder.grading.isolation.runner import execute, plan
    from autograder.notebooks import grade_id

    class EveryCellAnswers:  # stands in for SandboxedKernel: every cell shows a document
        limits = Limits(cell_timeout_s=5)

        def run(self, code, timeout=None, keep=None) -> CellOutcome:
            return CellOutcome("ok", result=json.dumps(REFERENCE))

    nb = nbformat.read(SAMPLES / "complete" / f"{NOTEBOOK}.ipynb", as_version=4)
    test = next(c for c in nb.cells if grade_id(c) == "test_training")
    nb.cells.insert(nb.cells.index(test), copy.deepcopy(test))
    received = []
    items = plan(course(NOTEBOOK), nb)
    execute(items, EveryCellAnswers(), 60, 2**20, lambda q, document: received.append(q))
    assert sorted(received) == sorted(course(NOTEBOOK).questions)


def test_the_parser_refuses_every_bomb_before_decoding():
    """The three bombs of the end-to-end test, in-process: refused as too large, and the
    byte cap is the one the kernel is given."""
    from autograder.grading.executors.jobs import Settings

    assert Settings().max_record_bytes == MAX_DOCUMENT_BYTES
    for bomb in same_bombs():
        assert parse(bomb) == {"answers": [], "end": "too_large"}


def test_cells_after_the_first_graded_test_carry_no_chosen_bits():
    """A kernel that has seen hidden inputs can choose which later cells fail and how (a bit
    per cell, an exception kind per cell): are the cells after the first graded test one
    line without a kind, whatever failed, while those before it keep label and kind?"""
    from autograder.grading.executors.failures import LATER_CELLS, cell_reports
    from autograder.grading.isolation.runner import CellReport, Execution

    def reports(later: list[CellReport]) -> list[dict]:
        before = [CellReport("cell 2", "error", "NameError: x"), CellReport("q", "ok")]
        return cell_reports(Execution(cells=before + later), {"q"})

    first = reports([CellReport("cell 5", "error", "KeyError: a"), CellReport("cell 6", "ok")])
    second = reports([CellReport("cell 7", "timeout"), CellReport("cell 9", "error", "OSError")])
    assert first == second
    assert [r["label"] for r in first] == ["cell 2", LATER_CELLS]
    assert first[0]["kind"] == "NameError" and first[1]["kind"] is None
    assert reports([CellReport("cell 5", "ok")]) == first[:1]
    probe_failed = cell_reports(Execution(cells=[CellReport("q", "error", "ValueError: 1")]), {"q"})
    assert probe_failed == [first[1]]  # the graded test's own cell too: hidden inputs ran there


MESSAGE_BOMB = """
import json
from pathlib import Path
from autograder.grading.isolation.kernel import Limits, SandboxedKernel
with SandboxedKernel("message-bomb", limits=Limits(cell_timeout_s=240)) as kernel:
    Path("/proc/self/clear_refs").write_text("5")
    bomb = kernel.run(
        "from IPython.display import display\\n"
        "display({'application/json': [[]] * 15_500_000}, raw=True)\\n"
        "display({'text/x-r': 'kept'}, raw=True)\\n",
        keep="text/x-r",
    )
    after = kernel.run("print(6 * 7)")
status = Path("/proc/self/status").read_text().splitlines()
peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(json.dumps({"bomb": [bomb.status, bomb.result], "after": after.stdout, "peak": peak}))
"""


@pytest.mark.slow
@NEEDS_SANDBOX
def test_a_message_of_empty_lists_leaves_the_grader_small():
    """A cell that displays 60 MB of `[], ` as JSON (under the 64 MiB message cap, 1.2 GB once
    jupyter_client decodes it): does the grader refuse to decode it, fail that cell, keep
    nothing it sent, run the next cell, and stay under 500 MB?"""
    run = subprocess.run(
        [sys.executable, "-c", MESSAGE_BOMB], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"grader peak RSS: {report['peak'] / 2**20:.0f} MiB")
    assert report["bomb"] == ["error", None] and report["after"] == "42\n", report
    assert report["peak"] < RSS_BOUND, report["peak"]


def test_kernel_messages_are_decoded_within_the_bounds():
    """Does the grader's message unpacker decode an ordinary message and refuse one nested
    too deep or holding too many values, before decoding it?"""
    from autograder.grading.isolation.messages import bounded_unpack

    assert bounded_unpack(b'{"data": {"text/plain": "[[[["}}') == {"data": {"text/plain": "[[[["}}
    with pytest.raises(ValueError):
        bounded_unpack(b'{"data": ' + b"[" * 100 + b"]" * 100 + b"}")
    with pytest.raises(ValueError):
        bounded_unpack(b"[" + b"[]," * 4_000_000 + b"[]]")
