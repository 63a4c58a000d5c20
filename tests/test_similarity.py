"""similarity.csv and the report's section: copied code found through renaming, honest code
and starter code left alone, every student's text escaped. No kernel runs: the students'
notebooks are the release with their answers written in, as the grader's copies hold them."""

from __future__ import annotations

import copy
import csv
import textwrap

import nbformat
import pytest

from autograder import similarity
from autograder.course import RELEASE
from autograder.grading.cli import parse
from autograder.grading.reporting import outputs
from autograder.grading.reporting.autograded import autograded_path
from autograder.notebooks import grade_id, read
from autograder.report import report
from autograder.results import NotebookResult, Status

NOTEBOOK = "01_numpy_gradients"
RELEASED = read(RELEASE / f"{NOTEBOOK}.ipynb")

# Two honest answers to each of two exercises, written differently (loops against unit steps,
# @ and a mask against np.dot and clipping), and a copy of the first with every name renamed,
# other comments and constants changed.
NUMERICAL_A = """
grad = np.zeros_like(x)
it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
while not it.finished:
    ix = it.multi_index
    old = x[ix]
    x[ix] = old + h  # f(x + h)
    fxph = f(x)
    x[ix] = old - h  # f(x - h)
    fxmh = f(x)
    x[ix] = old  # restore
    grad[ix] = (fxph - fxmh) / (2 * h)
    it.iternext()
"""
NUMERICAL_COPY = """
# central differences, one entry at a time
grad = np.zeros_like(x)
walker = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
while not walker.finished:
    where = walker.multi_index
    keep = x[where]

    x[where] = keep + h
    up = f(x)
    x[where] = keep - h
    down = f(x)
    x[where] = keep   # put it back
    grad[where] = (up - down) / (2.0 * h)
    walker.iternext()
"""
NUMERICAL_B = """
grad = np.zeros(x.shape)
for i in range(x.size):
    step = np.zeros(x.size)
    step[i] = h
    step = step.reshape(x.shape)
    grad.flat[i] = (f(x + step) - f(x - step)) / (2 * h)
"""
LOSS_A = """
n = x.shape[0]
hidden = x @ w1
act = np.maximum(hidden, 0)
y_pred = act @ w2
diff = y_pred - y
loss = np.sum(diff ** 2) / n
dy = 2 * diff / n
grad_w2 = act.T @ dy
grad_w1 = x.T @ ((dy @ w2.T) * (hidden > 0))
"""
LOSS_COPY = """
N = x.shape[0]
z = x @ w1
r = np.maximum(z, 0)   # relu
out = r @ w2
e = out - y
loss = np.sum(e ** 2) / N
g = 3 * e / N
grad_w2 = r.T @ g
grad_w1 = x.T @ ((g @ w2.T) * (z > 0))
"""
LOSS_B = """
pre = np.dot(x, w1)
relu = pre.clip(min=0)
residual = relu.dot(w2) - y
loss = float(np.square(residual).sum()) / len(x)
upstream = residual * (2.0 / len(x))
grad_w2 = np.dot(relu.T, upstream)
back = np.dot(upstream, w2.T)
back[pre <= 0] = 0.0
grad_w1 = np.dot(x.T, back)
"""
ANSWERS = {
    "ana": {"eval_numerical_gradient": NUMERICAL_A, "two_layer_loss": LOSS_A},
    "ben": {"eval_numerical_gradient": NUMERICAL_COPY, "two_layer_loss": LOSS_COPY},
    "cy": {"eval_numerical_gradient": NUMERICAL_B, "two_layer_loss": LOSS_B},
    "dee": {},  # untouched
}


def written(answers: dict[str, str]) -> nbformat.NotebookNode:
    """The release with `answers` ({grade_id: code}) in place of its "# YOUR CODE HERE"."""
    nb = copy.deepcopy(RELEASED)
    for cell in nb.cells:
        if grade_id(cell) in answers:
            code = textwrap.indent(answers[grade_id(cell)].strip("\n"), "    ")
            assert "    # YOUR CODE HERE" in cell.source
            cell.source = cell.source.replace("    # YOUR CODE HERE", code)
    return nb


def code_of(answers: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {s: similarity.answers(written(a)) for s, a in answers.items()}


def scores(answers, threshold=1e-9) -> dict[tuple[str, str], float]:
    pairs = similarity.compare(NOTEBOOK, code_of(answers), RELEASED, threshold)
    return {(p.student_a, p.student_b): p.similarity for p in pairs}


def test_a_copy_with_renamed_variables_and_new_comments_is_flagged_with_its_partner():
    """Is the renamed copy found with the student it copied, and nobody else flagged?"""
    pairs = similarity.compare(NOTEBOOK, code_of(ANSWERS), RELEASED, similarity.THRESHOLD)
    assert [(p.student_a, p.student_b) for p in pairs] == [("ana", "ben")]
    assert pairs[0].similarity >= 0.95
    assert [c.grade_id for c in pairs[0].cells] == ["two_layer_loss", "eval_numerical_gradient"]


def test_two_honest_solutions_written_differently_are_not_flagged():
    """Do two different correct implementations, each with enough code of its own to be
    judged, stay well below the threshold?"""
    code = code_of(ANSWERS)
    starter, known = similarity.starter_lines(RELEASED), similarity.release_hashes(RELEASED)
    for student in ("ana", "cy"):
        own = similarity.fingerprints(code[student], starter, known)
        assert len(own) >= similarity.MIN_FINGERPRINTS, student
    assert scores(ANSWERS).get(("ana", "cy"), 0.0) < 0.5


def test_a_copy_of_part_of_a_notebook_is_measured_against_the_smaller_side():
    """Is a student who copied one exercise and did nothing else flagged with 1.0 (all their
    code is in the other's), not diluted by the exercise they left alone?"""
    part = {"two_layer_loss": LOSS_COPY}
    assert scores({"ana": ANSWERS["ana"], "kim": part}) == {("ana", "kim"): 1.0}


def test_starter_code_alone_is_never_flagged():
    """Are untouched notebooks, and ones with only comments added, compared with nobody, at
    any threshold, also beside a student who wrote an answer?"""
    commented = {"eval_numerical_gradient": "# TODO tomorrow", "two_layer_loss": "# no idea"}
    klass = {"dee": {}, "eve": {}, "fay": commented, "ana": ANSWERS["ana"]}
    assert scores(klass) == {}


def test_a_student_with_too_little_code_of_their_own_is_not_judged():
    """Is one identical line (a handful of fingerprints) below the minimum, so not a pair?"""
    line = {"eval_numerical_gradient": "grad = np.zeros_like(x) + 0.0 * np.ones_like(x)"}
    code = code_of({"ana": line, "ben": line})
    own = similarity.fingerprints(code["ana"], similarity.starter_lines(RELEASED), set())
    assert 0 < len(own) < similarity.MIN_FINGERPRINTS
    assert scores({"ana": line, "ben": line}) == {}
    assert scores({"ana": ANSWERS["ana"], "ben": ANSWERS["ana"]}) == {("ana", "ben"): 1.0}


def test_an_idiom_most_of_the_class_writes_does_not_count():
    """Does a block that more than COMMON_FRACTION of the class (and COMMON_FLOOR students)
    holds count for no pair, while the same block in two students alone does?"""
    size = similarity.COMMON_FLOOR + 2
    klass = {f"s{i:02d}": {"two_layer_loss": LOSS_A} for i in range(size)}
    assert scores(klass) == {}
    assert scores({"s00": {"two_layer_loss": LOSS_A}, "s01": {"two_layer_loss": LOSS_A}})


def test_tokens_ignore_names_literals_comments_and_layout():
    """Do renaming, other constants, comments and blank lines leave the symbols unchanged,
    and does a changed operator or keyword change them?"""
    first = similarity.tokens("total = a + 1  # sum\n\nfor i in b:\n    total += 'x'\n")
    second = similarity.tokens("s = zz + 2.5\nfor k in q: s += f'{zz}'")
    assert [t for t, _ in first] == [t for t, _ in second]
    assert [line for _, line in first] == [1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 4, 4, 4]
    assert [t for t, _ in similarity.tokens("s = zz - 2.5")] != [t for t, _ in second][:5]
    assert [t for t, _ in similarity.tokens("while k in q")][:1] == ["while"]


def test_half_written_code_is_still_compared():
    """Does a cell Python cannot tokenize (an unclosed bracket) still give its tokens?"""
    found = similarity.tokens("grad = np.zeros(x.shape\nfor i in range(3):\n    grad[i] = 'a")
    assert [t for t, _ in found][:4] == ["V", "=", "V", "."] and len(found) > 15


def graded_out(tmp_path, answers: dict[str, dict[str, str]], statuses=None):
    """OUT with the grader's copies of each student's notebook, and their results."""
    results = []
    for student, answer in answers.items():
        status = (statuses or {}).get(student, Status.OK)
        path = autograded_path(tmp_path, student, NOTEBOOK)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(written(answer), path)
        results.append(NotebookResult(student, NOTEBOOK, status, "key"))
    return results


def test_similarity_csv_parses_and_lists_the_pairs_most_similar_first(tmp_path):
    """Does OUT/similarity.csv have the documented columns, one row per pair at or above the
    threshold, most similar first, and skip a notebook its result calls missing?"""
    answers = {**ANSWERS, "gus": ANSWERS["ana"], "hal": ANSWERS["ana"]}
    results = graded_out(tmp_path, answers, {"hal": Status.MISSING})
    similarity.write_similar(results, tmp_path, similarity.THRESHOLD)
    with open(tmp_path / "similarity.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == list(similarity.FIELDS)
    pairs = [(r["student_a"], r["student_b"]) for r in rows]
    assert pairs == [("ana", "ben"), ("ana", "gus"), ("ben", "gus")]  # all 1.0: by name
    assert [float(r["similarity"]) for r in rows] == sorted(
        (float(r["similarity"]) for r in rows), reverse=True
    )
    assert rows[0]["similarity"] == "1.000" and int(rows[0]["shared"]) >= 10
    assert rows[0]["cells"] == "two_layer_loss;eval_numerical_gradient"
    assert {r["notebook"] for r in rows} == {NOTEBOOK}


def test_the_report_shows_each_pair_side_by_side_escaped(tmp_path):
    """Does report.html show both students' cells of a pair, the matching lines marked,
    collapsed, saying it is a lead and not a verdict, with a student's markup escaped?"""
    evil = dict(ANSWERS["ana"])
    evil["two_layer_loss"] += 'note = "</pre><script>alert(1)</script>"\n'
    results = graded_out(tmp_path, {"<b>ana</b>": evil, "ben": ANSWERS["ben"]})
    pairs = similarity.write_similar(results, tmp_path, similarity.THRESHOLD)
    page = report(results, pairs, similarity.THRESHOLD)
    assert "<script>" not in page and "&lt;/pre&gt;&lt;script&gt;alert(1)" in page
    assert "<b>ana</b>" not in page and "&lt;b&gt;ana&lt;/b&gt; and ben" in page
    assert "not a\nverdict" in page
    section = page.split('<h2 id="similarity">')[1]
    assert section.count("<details>") == 1 and "<details open" not in section
    assert section.count('<div class="pair">') == 2
    assert "<mark>    grad_w2 = act.T @ dy</mark>" in section  # ana's side
    assert "<mark>    grad_w2 = r.T @ g</mark>" in section  # ben's, renamed
    assert "<mark>    &#34;&#34;&#34;Loss and weight" not in section  # starter: not matched
    assert "    &#34;&#34;&#34;Loss and weight" in section  # ... but shown


def test_the_report_says_when_no_pair_reached_the_threshold_or_none_was_computed():
    """Is an empty list of pairs told apart from similarity that could not be computed?"""
    results = [NotebookResult("ana", NOTEBOOK, Status.OK, "key")]
    assert "No pair of students reached the threshold" in report(results, [], 0.8)
    assert "was not computed in this run" in report(results, None, 0.8)


def test_a_failure_to_compare_is_reported_not_raised(tmp_path, capsys):
    """When similarity.csv cannot be made (here: a notebook the course has no release of), is
    it reported and given as None (a failed output; report.html says it was not computed)?"""
    results = graded_out(tmp_path, {"ana": ANSWERS["ana"]})
    results.append(NotebookResult("ana", "99_no_such_notebook", Status.OK, "key"))
    autograded_path(tmp_path, "ana", "99_no_such_notebook").write_text("{}")
    assert outputs._similar(results, tmp_path, similarity.THRESHOLD) is None
    assert "could not write similarity.csv" in capsys.readouterr().out
    assert outputs._similar(results[:1], tmp_path, similarity.THRESHOLD) == []
    assert (tmp_path / "similarity.csv").read_text().strip() == ",".join(similarity.FIELDS)


@pytest.mark.parametrize("value", ["0", "1.5", "-0.2"])
def test_a_threshold_outside_0_to_1_is_refused(value, capsys):
    """Does --similarity-threshold refuse a value that could never or always flag?"""
    with pytest.raises(SystemExit):
        parse(["CLASS", "--out", "OUT", "--similarity-threshold", value])
    assert "--similarity-threshold" in capsys.readouterr().err
    assert parse(["CLASS", "--out", "OUT"]).similarity_threshold is None  # the default: 0.8
    assert parse(["CLASS", "--out", "OUT", "--similarity-threshold", "0.6"]).similarity_threshold
