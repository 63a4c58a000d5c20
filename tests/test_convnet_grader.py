"""The grader's own ConvNet (autograder/grading/judging/convnet.py): its forward pass against
PyTorch's, its held-out digits, and the rule `trained_convnet` that scores returned
parameters on them."""

from __future__ import annotations

import math
import re
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.course import SOLUTIONS
from autograder.grading.judging import convnet, rules
from autograder.notebooks import read
from cs231n_utils import datasets


def torch_convnet(params, x):
    """Notebook 08's network written with torch.nn.functional."""
    w1, b1, w2, b2, wh, bh = (torch.from_numpy(p) for p in params)
    h = F.max_pool2d(F.relu(F.conv2d(torch.from_numpy(x), w1, b1, padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
    return F.linear(h.flatten(1), wh, bh).numpy()


def random_params(channels, classes, width, size, seed):
    rng = np.random.default_rng(seed)
    side = size // 2 // 2
    shapes = [(width, channels, 3, 3), (width,), (2 * width, width, 3, 3), (2 * width,),
              (classes, 2 * width * side * side), (classes,)]  # fmt: skip
    return [
        (rng.standard_normal(s) / math.sqrt(math.prod(s[1:]) if len(s) > 1 else 4)).astype(
            np.float32
        )
        for s in shapes
    ]


@pytest.mark.parametrize(
    ("channels", "classes", "width", "size", "count"),
    [(1, 10, 8, 28, 230), (3, 5, 4, 32, 7), (2, 7, 6, 9, 5), (1, 3, 2, 13, 1)],
)
def test_the_forward_pass_is_pytorchs(channels, classes, width, size, count):
    """Are the grader's logits PyTorch's, to float32 rounding, for other channels, widths,
    odd image sizes (pooling rounds down) and more images than one chunk?"""
    params = random_params(channels, classes, width, size, seed=size)
    x = np.random.default_rng(1).standard_normal((count, channels, size, size)).astype(np.float32)
    mine, theirs = convnet.forward(params, x), torch_convnet(params, x)
    assert mine.dtype == np.float32 and mine.shape == (count, classes)
    # float32 sums of up to 9 * 2 * width + 2 * width * side**2 terms: a few eps of the scale
    assert np.max(np.abs(mine - theirs)) <= 1e-5 * max(1.0, np.max(np.abs(theirs)))


def test_the_held_out_digits_are_no_students():
    """Are the grader's 1,000 digits 100 of each class, and none of them in data/mnist4k.npz?"""
    images, labels = convnet.held_out_digits()
    assert images.shape == (1000, 28, 28) and images.dtype == np.float32
    assert np.array_equal(np.bincount(labels), [100] * 10)
    theirs, _ = datasets.load_mnist4k()
    held = {image.tobytes() for image in images}
    assert not held & {image.tobytes() for image in theirs}


def test_a_changed_held_out_file_is_refused(tmp_path, monkeypatch):
    """Does the grader refuse to score on a held-out file that its checksum does not name?"""
    shutil.copy(convnet.DATA / "SHA256SUMS", tmp_path / "SHA256SUMS")
    damaged = tmp_path / convnet.HELD_OUT.name
    data = bytearray(convnet.HELD_OUT.read_bytes())
    data[len(data) // 2] ^= 1  # one bit, in the middle of the compressed images
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(convnet, "DATA", tmp_path)
    monkeypatch.setattr(convnet, "HELD_OUT", damaged)
    convnet.held_out_digits.cache_clear()
    try:
        with pytest.raises(convnet.DataDamaged):
            convnet.held_out_digits()
    finally:
        convnet.held_out_digits.cache_clear()


def trained(width=4, epochs=1, classes=10, first=0):
    """Parameters trained here on the students' digits first .. first + classes - 1, and the
    normalisation used."""
    images, labels = datasets.load_mnist4k()
    keep = (labels >= first) & (labels < first + classes)
    x = torch.from_numpy(images[keep]).unsqueeze(1)
    y = torch.from_numpy(labels[keep] - first)
    mean, std = float(x.mean()), float(x.std())
    x = (x - mean) / std
    torch.manual_seed(0)
    params = [p.detach().numpy().copy() for p in (
        torch.nn.Conv2d(1, width, 3, padding=1).weight, torch.zeros(width),
        torch.nn.Conv2d(width, 2 * width, 3, padding=1).weight, torch.zeros(2 * width),
        torch.nn.Linear(2 * width * 49, classes).weight, torch.zeros(classes))]  # fmt: skip
    tensors = [torch.from_numpy(p).requires_grad_(True) for p in params]
    optimizer = torch.optim.Adam(tensors, lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=generator).split(50):
            w1, b1, w2, b2, wh, bh = tensors
            h = F.max_pool2d(F.relu(F.conv2d(x[batch], w1, b1, padding=1)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
            loss = F.cross_entropy(F.linear(h.flatten(1), wh, bh), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return [t.detach().numpy().copy() for t in tensors], mean, std


def judge(mine, solution, **params):
    ref = {"name": "the trained parameters", "case": "a case", "params": params}
    return rules.RULES["trained_convnet"](mine, ref, solution, {})


def test_the_rule_scores_parameters_on_the_held_out_digits():
    """Does a trained network pass, and do an untrained one, a wrongly shaped one and one with
    NaN fail, with messages that show no number computed from the answer?"""
    params, mean, std = trained()
    assert convnet.held_out_accuracy(params, mean, std, 0) > 0.85
    assert judge(params, params, min_accuracy=0.8, mean=mean, std=std) is None
    untrained = random_params(1, 10, 4, 28, seed=0)
    failure = judge(untrained, params, min_accuracy=0.8, mean=mean, std=std)
    assert failure and "fewer than 80%" in failure
    assert not any(ch.isdigit() for ch in failure.replace("80%", ""))
    assert "shape" in judge(params[:-1] + [params[-1][:5]], params, min_accuracy=0.8,
                            mean=mean, std=std)  # fmt: skip
    assert "expected the 6" in judge(params[:5], params, min_accuracy=0.8, mean=mean, std=std)
    broken = [p.copy() for p in params]
    broken[4][0, 0] = np.nan
    assert "NaN" in judge(broken, params, min_accuracy=0.8, mean=mean, std=std)


def test_the_rule_reads_only_the_digits_it_is_told():
    """With first_digit=5, is a 5-class network scored on the digits 5-9 labelled 0-4 (a
    network trained on 5-9 passes there and fails on 0-4)?"""
    params, mean, std = trained(classes=5, first=5, epochs=1)
    assert judge(params, params, min_accuracy=0.8, mean=mean, std=std, first_digit=5) is None
    assert judge(params, params, min_accuracy=0.5, mean=mean, std=std, first_digit=0)


def solution_cells(notebook: str) -> list[str]:
    return [c.source for c in read(SOLUTIONS / f"{notebook}.ipynb").cells if c.cell_type == "code"]


def solution_functions(notebook: str, names: list[str]) -> dict:
    """The solution's cells that define `names` (and what they define beside them), run here
    on the CPU without the notebook's setup cell (which would change this process's threads)."""
    space = {"torch": torch, "nn": nn, "F": F, "np": np, "math": math,
             "device": torch.device("cpu"), "load_mnist4k": datasets.load_mnist4k,
             "load_backbone": datasets.load_backbone}  # fmt: skip
    cells = solution_cells(notebook)
    for name in names:
        (source,) = [s for s in cells if f"def {name}(" in s or f"class {name}(" in s]
        exec(source.split("### BEGIN HIDDEN TESTS")[0], space)
    return space


def test_the_fine_tuning_bar_needs_the_backbone():
    """08's hidden fine-tuning cases, trained with the solution's code: does each clear its
    accuracy bar on the grader's digits with the backbone, and fail it trained from scratch
    and from random convolutions (the backbone not loaded)? Otherwise the bar grades no
    transfer at all."""
    names = ["conv_output_size", "ConvNet", "parameter_list", "train_convnet", "few_shot_digits"]
    ns = solution_functions("08_convnets", [*names, "fine_tune"])
    test = next(s for s in solution_cells("08_convnets") if "def check_fine_tune(" in s)
    cases = re.findall(r"\((\d+), (\d+), (\d+), (True|False), ([\d.]+), \"", test)
    assert len(cases) == 2
    backbone = datasets.load_backbone()
    torch.manual_seed(0)
    initial = ns["ConvNet"](1, 5, 16).state_dict()
    random_convs = {**backbone, **{k: v.numpy() for k, v in initial.items() if "head" not in k}}
    mean, std = float(backbone["mean"]), float(backbone["std"])
    for per_class, epochs, seed, freeze, least in cases:
        (x, y), _ = ns["few_shot_digits"](int(per_class), int(seed))
        accuracy = {}
        for start, weights in [("backbone", backbone), ("scratch", None), ("random", random_convs)]:
            model = ns["fine_tune"](weights, x, y, num_classes=5, epochs=int(epochs), lr=1e-3,
                                    seed=int(seed), freeze=freeze == "True")  # fmt: skip
            params = [p.detach().numpy() for p in ns["parameter_list"](model)]
            accuracy[start] = convnet.held_out_accuracy(params, mean, std, 5)
        without = max(accuracy["scratch"], accuracy["random"])
        assert accuracy["backbone"] >= float(least) > without, (per_class, least, accuracy)
