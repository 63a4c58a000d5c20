"""Notebooks 00 to 03 give no points on the kernel's word: every graded answer is a value the
student's function returned on the hidden test's inputs, judged against the solution's.

Attackers who read our code forge the facts the old hidden tests observed in the kernel (the
thread that read a source, a layer's reported width) or answer the visible check's
configuration whatever the arguments; each must earn no more than the honest partial score of
the same unfinished work. Facts that no value can decide (weights kept in a TF1 graph, a
graph that does not grow) are checks without points: they must still tell the student, and
cost nothing (tests/test_mutations.py runs every notebook's `[[unpointed]]` mistakes).
"""

from __future__ import annotations

import re

import pytest
import test_mutations as run  # the mutation suite's judge, not its tests

from autograder.course import SOLUTIONS
from autograder.notebooks import hidden_part, is_test, read

pytestmark = pytest.mark.slow

NOTEBOOKS = ("00_hardware", "01_numpy_gradients", "02_tf_static_graphs", "03_keras")
OBSERVED = ("true", "at_most", "recorded", "same_as", "differs_from")


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_no_answer_is_judged_by_an_observation(stem):
    """Does no hidden test of these notebooks name a rule that judges a fact observed in the
    kernel (true, at_most) or compares the student's answers only with each other?"""
    for cell in read(SOLUTIONS / f"{stem}.ipynb").cells:
        if is_test(cell):
            hidden = hidden_part(cell.source)
            for rule in OBSERVED:
                assert not re.search(rf"""["']{rule}["']""", hidden), (stem, rule)


def _verdict(kernel, references, test: str, source: str, restore: str, cleanup: str = ""):
    """The judge's verdict on `test` with `source` run in place of the solution's cell."""
    try:
        changed = kernel.run(source)
        assert changed.error is None, changed.error
        return run.graded(kernel, references, test)
    finally:
        if cleanup:
            kernel.run(cleanup)
        kernel.run(kernel.source(restore))


SEQUENTIAL_PREFETCH = """
def prefetch(iterable, buffer=2):
    return (item for item in iterable)
"""
# The old hidden test asked threading.current_thread(), inside the source, who read it: a
# sequential prefetch answers "someone else" while it pulls an item, the true thread otherwise.
FORGED_THREADS = """
import threading


class _Someone:
    name, ident, daemon = "someone else", 0, True


_real, _pulling = threading.current_thread, [False]
threading.current_thread = lambda: _Someone() if _pulling[0] else _real()


def prefetch(iterable, buffer=2):
    def items():
        source = iter(iterable)
        while True:
            _pulling[0] = True
            try:
                item = next(source)
            except StopIteration:
                return
            finally:
                _pulling[0] = False
            yield item

    return items()
"""
UNFORGE = "threading.current_thread = _real"


@pytest.mark.xdist_group("00_hardware.ipynb")  # the mutation tests' kernel of it
def test_forged_threads_do_not_earn_the_prefetch_points(solution_kernels):
    """Does a prefetch that reads in the consumer earn no points, whether or not its kernel
    makes every caller look like another thread?"""
    kernel, references = solution_kernels("00_hardware.ipynb")
    honest = _verdict(kernel, references, "test_prefetch", SEQUENTIAL_PREFETCH, "prefetch")
    forged = _verdict(
        kernel, references, "test_prefetch", FORGED_THREADS, "prefetch", cleanup=UNFORGE
    )
    assert not honest.passed
    assert not forged.passed, forged


ONE_STEP_HONEST = """
def train_two_layer(x, y, w1, w2, learning_rate, num_steps):
    # Right for one step (what the old hidden test checked against the student's own
    # gradient); otherwise the visible check's 300 steps of 0.1 on the notebook's digits.
    w1, w2, losses = w1.copy(), w2.copy(), []
    steps, rate = (1, learning_rate) if num_steps == 1 else (300, 0.1)
    data = (x, y) if num_steps == 1 else (x_train, y_train)
    for _ in range(steps):
        loss, grads = two_layer_loss(*data, w1, w2)
        losses.append(loss)
        w1 -= rate * grads["w1"]
        w2 -= rate * grads["w2"]
    return w1, w2, (losses * num_steps)[:num_steps]
"""


@pytest.mark.xdist_group("01_numpy_gradients.ipynb")  # the mutation tests' kernel of it
def test_arguments_ignored_but_in_a_one_step_call_earn_nothing(solution_kernels):
    """Does a train_two_layer that honours its arguments only in a one-step call, and trains
    the visible check's configuration otherwise, fail the graded trajectories?"""
    kernel, references = solution_kernels("01_numpy_gradients.ipynb")
    verdict = _verdict(kernel, references, "test_training", ONE_STEP_HONEST, "train_two_layer")
    assert not verdict.passed


FORGED_WIDTHS = """
def build_mlp(input_size, hidden_sizes, num_classes):
    # Every hidden layer 64 wide (the visible check's), each reporting the width asked for.
    layers = [keras.Input(shape=(input_size,))]
    layers += [keras.layers.Dense(64, activation="relu") for _ in hidden_sizes]
    model = keras.Sequential([*layers, keras.layers.Dense(num_classes)])
    for layer, units in zip(model.layers, hidden_sizes):
        layer.units = units
    return model
"""


@pytest.mark.xdist_group("03_keras.ipynb")  # the mutation tests' kernel of it
def test_forged_layer_widths_do_not_earn_the_model_points(solution_kernels):
    """Does a model whose layers report the requested widths while holding others fail?"""
    kernel, references = solution_kernels("03_keras.ipynb")
    verdict = _verdict(kernel, references, "test_build_mlp", FORGED_WIDTHS, "build_mlp")
    assert not verdict.passed
