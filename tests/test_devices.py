"""cs231n_utils.devices: honest device choices and a true hardware report, checked against
the operating system's own tools and against simulated CUDA, MPS and TPU machines."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from cs231n_utils import devices


def test_cpu_machine_gets_the_cpu_with_reasons():
    """On this CPU-only machine, is the device the CPU, and does it say why?"""
    choice = devices.torch_device_choice()
    assert choice.device == torch.device("cpu") and choice.kind == "cpu"
    assert choice.fallbacks and "CUDA" in choice.fallbacks[0]
    assert devices.torch_device() == torch.device("cpu")


def test_cuda_is_preferred_when_present(monkeypatch):
    """With a (simulated) CUDA GPU, is cuda:0 picked and named with its memory?"""
    props = types.SimpleNamespace(name="NVIDIA T4", total_memory=15 * 2**30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    choice = devices.torch_device_choice()
    assert choice.device == torch.device("cuda", 0) and choice.name == "NVIDIA T4 (15.0 GiB)"


def test_mps_is_next(monkeypatch):
    """Without CUDA but with Apple's MPS, is mps picked?"""
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.torch_device_choice().device == torch.device("mps")


def test_tpu_through_torch_xla(monkeypatch):
    """With torch_xla installed (simulated), is its device picked after CUDA and MPS?"""
    fake = types.ModuleType("torch_xla")
    fake.device = lambda: "xla:0"
    monkeypatch.setitem(sys.modules, "torch_xla", fake)
    choice = devices.torch_device_choice()
    assert (choice.kind, choice.device) == ("tpu", "xla:0")


def test_tpu_host_without_torch_xla_says_so(monkeypatch):
    """On a TPU runtime without torch_xla, does the CPU fallback say what is missing?"""
    monkeypatch.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    monkeypatch.setitem(sys.modules, "torch_xla", None)  # makes `import torch_xla` fail
    choice = devices.torch_device_choice()
    assert choice.kind == "cpu"
    assert any("torch_xla is not installed" in reason for reason in choice.fallbacks)


def test_tensorflow_device_and_list_are_never_empty():
    """Does TensorFlow get /CPU:0 here, and a non-empty device list?"""
    choice = devices.tf_device_choice()
    assert (choice.kind, choice.device) == ("cpu", "/CPU:0") and choice.fallbacks
    assert devices.tf_device() == "/CPU:0"
    names = devices.tf_devices()
    assert names and all("CPU" in n or "GPU" in n for n in names)


def test_tf_strategy_places_variables_on_the_chosen_device():
    """Does the strategy's scope create variables on the CPU here?"""
    import tensorflow as tf

    with devices.tf_strategy().scope():
        v = tf.Variable(1.0)
    assert "CPU" in v.device


def test_core_counts_match_the_os():
    """Do the core counts match nproc and lscpu?"""
    counts = devices.cpu_counts()
    nproc = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout)
    assert counts["usable"] == nproc and counts["logical"] == os.cpu_count()
    if shutil.which("lscpu"):
        rows = subprocess.run(["lscpu", "-p=CORE,SOCKET"], capture_output=True, text=True)
        cores = {line for line in rows.stdout.splitlines() if not line.startswith("#")}
        assert counts["physical"] == len(cores)


def test_memory_matches_proc_meminfo():
    """Does total memory agree with /proc/meminfo's MemTotal (to within 1%)?"""
    text = Path("/proc/meminfo").read_text()
    kib = int(re.search(r"MemTotal:\s+(\d+) kB", text).group(1))
    assert devices.memory_bytes() == pytest.approx(kib * 1024, rel=0.01)


def test_cpu_model_matches_lscpu():
    """Is the CPU model the one lscpu reports?"""
    if not shutil.which("lscpu"):
        pytest.skip("lscpu not installed")
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    match = re.search(r"Model name:\s+(.+)", out)
    assert match and devices.cpu_model() == match.group(1).strip()


def test_versions_match_the_imported_frameworks():
    """Are the reported versions those of the imported modules?"""
    import tensorflow as tf

    versions = devices.framework_versions()
    assert versions["numpy"] == np.__version__ and versions["torch"] == torch.__version__
    assert versions["tensorflow"] == tf.__version__


def test_gpu_names_from_nvidia_smi(tmp_path, monkeypatch):
    """Without PyTorch imported, is nvidia-smi's CSV read into names with memory?"""
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA A100-SXM4-40GB, 40960 MiB'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delitem(sys.modules, "torch")
    assert devices.gpu_names() == ["NVIDIA A100-SXM4-40GB (40960 MiB)"]


def test_report_lists_cpu_memory_accelerator_and_versions():
    """Does the report carry the CPU model, core count, memory, GPU line and versions?"""
    report = devices.hardware_report()
    assert devices.cpu_model() in report and f"{os.cpu_count()} logical cores" in report
    assert "GiB" in report and "GPU/TPU : none found" in report
    assert f"torch {torch.__version__}" in report and f"numpy {np.__version__}" in report
