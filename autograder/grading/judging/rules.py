"""How each kind of answer is judged: the rules a hidden test's `graded.answer` can name.

Every rule gets the student's decoded answer, the solution's record (its value, tolerance,
case, hint, `given` data and parameters: trusted) and the student's earlier answers of the
question, and returns None or a message written here from the solution's names and numbers
computed here. graded.RULES (kernel side) lists the same names; a test keeps them equal.

A rule sees only what answers.decode returns (None, a float64 array of any shape with NaN or
inf allowed, a list of such arrays, a list of plain values) and must not raise on any of it:
it checks the answer's type and shape against the solution's before computing, so that an
exception escaping it is the grader's fault (judge.py). Its message tells a rule's failure
from a pass (and serves the instructor's tests); the student never reads it: on a hidden case
the judge replaces it with fixed words.
Trusted side: imports nothing that runs in the student's kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from autograder.grading.judging import properties_b
from autograder.grading.judging.answers import decode
from autograder.grading.judging.convnet import PARAMETERS, held_out_accuracy
from cs231n_utils.gradcheck import rel_error


def on_case(ref: dict) -> str:
    """ " on a hidden case (a batch of one example)": the case in the solution's words."""
    return f" on a hidden case ({ref['case']})" if ref.get("case") else " on a hidden case"


def compare(name: str, mine, theirs, tol: float, where: str) -> str | None:
    if isinstance(theirs, list) and not all(isinstance(t, np.ndarray) for t in theirs):
        # plain values (strings, None, numbers): equal, item by item
        if not isinstance(mine, list) or len(mine) != len(theirs):
            return f"{name}: another number of items{where} than the solution's"
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            if type(a) is not type(b) or a != b:
                return f"{name}: item {i} differs from the solution's{where}"
        return None
    if isinstance(theirs, list):
        if not isinstance(mine, list) or len(mine) != len(theirs):
            return f"{name}: expected a list of {len(theirs)} arrays{where}"
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            failure = compare(f"{name}[{i}]", a, b, tol, where)
            if failure:
                return failure
        return None
    if theirs is None:
        return None if mine is None else f"{name} should be None{where}"
    if mine is None:
        return f"{name} is None{where}: is the exercise finished?"
    if not isinstance(mine, np.ndarray):
        return f"{name} should be an array of numbers{where}"
    if mine.shape != theirs.shape:
        return f"{name} should have shape {theirs.shape}{where}, as the solution's has"
    if not np.all(np.isfinite(mine)):
        return f"{name} contains NaN or inf{where}"
    error = rel_error(mine, theirs)
    if error > tol:
        return f"{name} is off by a relative error of {error:.1e}{where} (allowed {tol:.0e})"
    return None


def _close(mine, ref, theirs, answers) -> str | None:
    return compare(ref["name"], mine, theirs, max(float(ref.get("tol", 0.0)), 0.0), on_case(ref))


def _equal(mine, ref, theirs, answers) -> str | None:
    return compare(ref["name"], mine, theirs, 0.0, on_case(ref))


def type_failure(slot, ref: dict) -> str | None:
    """With the rule's `same_type`, the array type and dtype must be the solution's (both
    named from the solution's record and a fixed vocabulary, never from the kernel)."""
    theirs = ref["value"]
    if not ref["params"].get("same_type") or theirs.get("t") != "array":
        return None
    if not isinstance(slot, dict) or (slot.get("kind"), slot.get("dtype")) != (
        theirs.get("kind"),
        theirs.get("dtype"),
    ):
        kind, dtype = theirs.get("kind"), np.dtype(theirs["dtype"]).name
        return f"{ref['name']} should be a {kind} array of dtype {dtype}{on_case(ref)}"
    return None


def floats(mine, ref, theirs, answers, slot=None) -> str | None:
    name, where = ref["name"], on_case(ref)
    if not isinstance(mine, np.ndarray) or slot is None or slot.get("items") != ["float"]:
        return f"{name} should be a list of Python floats{where} (use loss.item() or float())"
    if mine.shape != theirs.shape:
        return f"{name} should have {theirs.size} entries{where}"
    return None


def _permutations(mine, ref, theirs, answers) -> str | None:
    name, where = ref["name"], on_case(ref)
    if not isinstance(mine, np.ndarray) or mine.ndim != 2 or mine.shape != theirs.shape:
        return f"{name}: not {len(theirs)} epochs of {theirs.shape[1]} indices{where}"
    n = mine.shape[1]
    for epoch, row in enumerate(mine):
        if not np.array_equal(np.sort(row), np.arange(n)):
            return f"{name}: epoch {epoch} does not hold every index exactly once{where}"
    if np.array_equal(mine[0], np.arange(n)):
        return f"{name}: the first epoch is in index order{where}: nothing was shuffled"
    if all(np.array_equal(row, mine[0]) for row in mine):
        return f"{name}: every epoch came in the same order{where}"
    return None


def _own(mine, ref, answers) -> tuple[list | None, list | None, str, str]:
    """This answer and the student's own earlier answer `of`, each as a list of arrays."""
    earlier = answers.get(str(ref["params"].get("of")))
    return _arrays(mine), _arrays(earlier), ref["name"], str(ref["params"].get("of"))


def _agree(mine: list, earlier: list, tol: float) -> bool:
    if [a.shape for a in mine] != [b.shape for b in earlier]:
        return False
    return all(
        np.all(np.isfinite(a)) and rel_error(a, b) <= tol
        for a, b in zip(mine, earlier, strict=True)
    )


def _same_as(mine, ref, theirs, answers) -> str | None:
    """Equal to this student's own earlier answer `of` (within `tol`, with `close=True`): a
    consistency the solution's values cannot decide, such as an update that is exactly the
    learning rate times the student's own gradient, or the same epochs from the same seed."""
    mine, earlier, name, of = _own(mine, ref, answers)
    if mine is None or earlier is None:
        return f"{name}: nothing to compare with{on_case(ref)}"
    tol = max(float(ref.get("tol", 0.0)), 0.0) if ref["params"].get("close") else 0.0
    if not _agree(mine, earlier, tol):
        return f"{name}: differs from {of}{on_case(ref)}; it should be the same"
    return None


def _differs_from(mine, ref, theirs, answers) -> str | None:
    """Not equal to this student's own earlier answer `of` (another seed, another order)."""
    mine, earlier, name, of = _own(mine, ref, answers)
    if mine is None or earlier is None:
        return f"{name}: nothing to compare with{on_case(ref)}"
    if _agree(mine, earlier, 0.0):
        return f"{name}: the same as {of}{on_case(ref)}; it should differ"
    return None


def _arrays(value) -> list[np.ndarray] | None:
    """An answer as a list of arrays (one array is a list of one), or None."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
        return value
    return None


def _recorded(mine, ref, theirs, answers) -> str | None:
    """Not judged by itself: kept for a later same_as or differs_from."""
    return None


def mlp_forward(params: list[np.ndarray], x: np.ndarray, layout: str) -> np.ndarray:
    """Logits of a ReLU MLP. layout "plain": [w1, w2, ...] with x @ w and no biases;
    "keras": [kernel, bias, ...] with x @ kernel + bias; "torch": [weight, bias, ...] with
    x @ weight.T + bias."""
    step = 1 if layout == "plain" else 2
    h = x
    for i in range(0, len(params), step):
        w = params[i].T if layout == "torch" else params[i]
        h = h @ w + (params[i + 1] if step == 2 else 0.0)
        if i + step < len(params):
            h = np.maximum(h, 0.0)
    return h


def mlp_loss(logits: np.ndarray, y: np.ndarray, loss: str) -> float:
    if loss == "mse":
        return float(np.sum((logits - y) ** 2) / len(logits))
    z = logits - logits.max(axis=1, keepdims=True)
    labels = y.astype(np.int64).ravel()
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]))


def parameter_problem(name, mine, like, where: str, model: str, expected: str) -> str | None:
    """What is wrong with trained parameters `mine` before they are run: not a list of
    `len(like)` arrays (`expected` says what was), an array of another shape than its
    counterpart in `like` (`model`'s), NaN or inf in one. None when they can be run."""
    if not isinstance(mine, list) or len(mine) != len(like):
        return f"{name}: expected {expected}"
    for got, first in zip(mine, like, strict=True):
        if not isinstance(got, np.ndarray) or got.shape != first.shape:
            return f"{name}: a parameter has another shape than {model}{where}"
        if not np.all(np.isfinite(got)):
            return f"{name} contain NaN or inf{where}: the training diverged"
    return None


def _trained_mlp(mine, ref, theirs, answers) -> str | None:
    """The loss of the returned parameters, recomputed here on the solution's training data,
    must be `factor` times below the loss of the starting parameters; optionally the held-out
    accuracy must reach `min_accuracy`."""
    name, where, params = ref["name"], on_case(ref), ref["params"]
    given = {key: decode(value) for key, value in ref["given"].items()}
    start = given["start"]
    expected = f"{len(start)} parameter arrays{where}"
    if problem := parameter_problem(name, mine, start, where, "the model's", expected):
        return problem
    layout, loss = params.get("layout", "plain"), params.get("loss", "mse")
    x, y = given["x"], given["y"]
    before = mlp_loss(mlp_forward(start, x, layout), y, loss)
    after = mlp_loss(mlp_forward(mine, x, layout), y, loss)
    factor = float(params.get("factor", 1.0))
    if not after * factor <= before:
        achieved = before / after if after > 0 else math.inf
        return (
            f"{name}: the training loss of the returned parameters, recomputed by the grader, "
            f"fell by a factor of {achieved:.3g}{where}; at least {factor:g} is needed"
        )
    if "min_accuracy" in params:
        logits = mlp_forward(mine, given["x_val"], layout)
        accuracy = float(np.mean(logits.argmax(axis=1) == given["y_val"].astype(np.int64)))
        if accuracy < float(params["min_accuracy"]):
            return (
                f"{name}: held-out accuracy {accuracy:.1%}{where}, recomputed by the grader; "
                f"at least {float(params['min_accuracy']):.0%} is needed"
            )
    return None


def trained_convnet(mine, ref, theirs, answers) -> str | None:
    """Rule: the returned parameters (convnet.PARAMETERS' order, the solution's shapes), run
    by the grader on its held-out digits `first_digit` onwards with the pixel `mean` and `std`
    of the solution's record, must classify at least `min_accuracy` of them right."""
    name, where, params = ref["name"], on_case(ref), ref["params"]
    expected = f"the {len(theirs)} parameter arrays {', '.join(PARAMETERS)}"
    if problem := parameter_problem(name, mine, theirs, where, "the network's", expected):
        return problem
    accuracy = held_out_accuracy(
        mine, float(params["mean"]), float(params["std"]), int(params.get("first_digit", 0))
    )
    least = float(params["min_accuracy"])
    if accuracy < least:
        return (
            f"{name}: the network they define, run by the grader on held-out digits, classifies "
            f"fewer than {least:.0%} of them right{where}"
        )
    return None


Rule = Callable[..., str | None]
RULES: dict[str, Rule] = {
    "close": _close,
    "equal": _equal,
    "floats": floats,
    "permutations": _permutations,
    "same_as": _same_as,
    "recorded": _recorded,
    "differs_from": _differs_from,
    "trained_mlp": _trained_mlp,
    "trained_convnet": trained_convnet,
    "uniform_permutations": properties_b.uniform_permutations,
    "repeats": properties_b.repeats,
    "heldout_digits": properties_b.heldout_digits,
}
