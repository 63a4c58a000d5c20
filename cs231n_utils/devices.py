"""Which device to compute on, and what hardware this notebook is running on.

Everything here is honest about fallbacks: a function that promises a device returns one
(the CPU at worst) and says why it did not pick something faster. PyTorch and TensorFlow
are imported only by the functions that need them.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


@dataclass
class DeviceChoice:
    """The device picked for a framework, and why the faster options were passed over."""

    device: object  # torch.device, or a TensorFlow device string such as "/GPU:0"
    kind: str  # "cuda", "mps", "tpu", "gpu" or "cpu"
    name: str  # a human-readable description, e.g. "NVIDIA T4 (15.0 GiB)"
    fallbacks: list[str] = field(default_factory=list)  # why faster kinds were not used

    def __str__(self) -> str:
        text = f"{self.kind}: {self.name}"
        if self.fallbacks:
            text += " (" + "; ".join(self.fallbacks) + ")"
        return text


# ----------------------------------------------------------------------------- PyTorch


def _torch_xla_device(reasons: list[str]):
    try:
        import torch_xla  # noqa: F401  (registers the XLA backend)
    except ImportError:
        if tpu_runtime_present():
            import torch

            reasons.append(
                "a TPU is attached but torch_xla is not installed (PyTorch reaches a TPU only "
                f"through torch_xla: install the release matching torch {torch.__version__}, "
                "or use TensorFlow's TPUStrategy, tf_strategy())"
            )
        return None
    except Exception as error:  # torch_xla present but broken (version mismatch with torch)
        reasons.append(f"torch_xla failed to import: {error}")
        return None
    try:
        device_fn = getattr(torch_xla, "device", None)
        if device_fn is None:
            import torch_xla.core.xla_model as xm

            device_fn = xm.xla_device
        return device_fn()
    except Exception as error:
        reasons.append(f"torch_xla found no TPU: {error}")
        return None


def torch_device_choice() -> DeviceChoice:
    """The best PyTorch device here: CUDA, then Apple MPS, then a TPU through torch_xla,
    then the CPU, with the reasons each faster option was not taken."""
    import torch

    reasons: list[str] = []
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        name = f"{props.name} ({props.total_memory / 2**30:.1f} GiB)"
        return DeviceChoice(torch.device("cuda", 0), "cuda", name)
    reasons.append(
        "no CUDA GPU visible to PyTorch"
        if torch.version.cuda
        else "this PyTorch build has no CUDA support"
    )
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return DeviceChoice(torch.device("mps"), "mps", "Apple GPU (Metal)", reasons)
    if sys.platform == "darwin":
        reasons.append("MPS not available")
    xla = _torch_xla_device(reasons)
    if xla is not None:
        return DeviceChoice(xla, "tpu", f"TPU through torch_xla ({xla})", reasons)
    return DeviceChoice(torch.device("cpu"), "cpu", cpu_model(), reasons)


def torch_device():
    """The best PyTorch device here (see torch_device_choice); a `torch.device`, never None."""
    return torch_device_choice().device


# -------------------------------------------------------------------------- TensorFlow


def tpu_runtime_present() -> bool:
    """Whether this machine looks like a TPU host (Colab's TPU runtime or a Cloud TPU VM)."""
    return bool(os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME")) or any(
        Path("/dev").glob("accel[0-9]*")
    )


def tf_device_choice(connect_tpu: bool = True) -> DeviceChoice:
    """The best TensorFlow device: a TPU (through the cluster resolver, when this is a TPU
    host and `connect_tpu`), then the first GPU, then the CPU. Connecting to a TPU
    initialises it, which TensorFlow allows once per process."""
    import tensorflow as tf

    reasons: list[str] = []
    if connect_tpu and tpu_runtime_present():
        try:
            resolver = _tpu_resolver()
            return DeviceChoice(resolver, "tpu", f"TPU ({resolver.master() or 'local'})")
        except Exception as error:
            reasons.append(f"TPU runtime found but not reachable: {error}")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return DeviceChoice("/GPU:0", "gpu", details.get("device_name", gpus[0].name), reasons)
    reasons.append(
        "no GPU visible to TensorFlow"
        + ("" if tf.test.is_built_with_cuda() else " (this build has no CUDA support)")
    )
    return DeviceChoice("/CPU:0", "cpu", cpu_model(), reasons)


_TPU_RESOLVER = None


def _tpu_resolver():
    global _TPU_RESOLVER
    if _TPU_RESOLVER is None:
        import tensorflow as tf

        tpu = None if os.environ.get("COLAB_TPU_ADDR") else "local"
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        _TPU_RESOLVER = resolver
    return _TPU_RESOLVER


def tf_device() -> str:
    """A TensorFlow device string for `with tf.device(...)`: "/GPU:0" or "/CPU:0".

    A TPU is not addressed this way; use tf_strategy() for it."""
    choice = tf_device_choice(connect_tpu=False)
    return choice.device


def tf_devices() -> list[str]:
    """Names of every TensorFlow device that can compute here, fastest kind first; never
    empty (the CPU is always listed)."""
    import tensorflow as tf

    found = [d.name for kind in ("GPU", "CPU") for d in tf.config.list_logical_devices(kind)]
    return found or ["/device:CPU:0"]


def tf_strategy():
    """A tf.distribute strategy for the best device: TPUStrategy on a TPU host, else a
    OneDeviceStrategy on the GPU or CPU. Build and train Keras models inside
    `with strategy.scope():`."""
    import tensorflow as tf

    choice = tf_device_choice()
    if choice.kind == "tpu":
        return tf.distribute.TPUStrategy(choice.device)
    return tf.distribute.OneDeviceStrategy(choice.device)


# ------------------------------------------------------------------------ the report


def cpu_model() -> str:
    """The CPU's marketing name, e.g. "AMD EPYC 7B13", or the best available substitute."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                return line.split(":", 1)[1].strip()
    if sys.platform == "darwin":
        name = _output(["sysctl", "-n", "machdep.cpu.brand_string"], timeout=5)
        if name and name.strip():
            return name.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def _output(command: list[str], timeout: float) -> str | None:
    """What a command printed, or None when it could not run, failed or took too long."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def cpu_counts() -> dict[str, int | None]:
    """Logical cores, the cores this process may use, and physical cores (None if unknown)."""
    logical = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    physical = None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cores, package = set(), "0"
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "physical id":
                package = value
            elif key == "core id":
                cores.add((package, value))
        physical = len(cores) or None
    return {"logical": logical, "usable": usable, "physical": physical}


def memory_bytes() -> int | None:
    """Total physical memory in bytes, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gpu_names() -> list[str]:
    """GPUs with their memory, e.g. ["NVIDIA T4 (15.0 GiB)"]. Asks PyTorch when it is
    already imported, else nvidia-smi; empty when there is no GPU."""
    torch = sys.modules.get("torch")
    if torch is not None:
        if torch.cuda.is_available():
            return [
                f"{p.name} ({p.total_memory / 2**30:.1f} GiB)"
                for p in map(torch.cuda.get_device_properties, range(torch.cuda.device_count()))
            ]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return ["Apple GPU (Metal), memory shared with the CPU"]
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"]
        rows = (_output(query, timeout=10) or "").splitlines()
        return [
            f"{name.strip()} ({memory.strip()})"
            for name, _, memory in (row.partition(",") for row in rows)
            if name.strip()
        ]
    return []


def framework_versions() -> dict[str, str | None]:
    """Installed versions of the course's frameworks, read from package metadata (nothing is
    imported). None for a framework that is not installed."""

    def version(*dists: str) -> str | None:
        for dist in dists:
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        return None

    return {
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "torch": version("torch"),
        "tensorflow": version("tensorflow", "tensorflow-cpu", "tensorflow-macos"),
        "keras": version("keras"),
    }


def hardware_report() -> str:
    """A short, printable description of this machine and the installed frameworks."""
    counts = cpu_counts()
    cores = f"{counts['logical']} logical cores"
    if counts["usable"] != counts["logical"]:
        cores += f", {counts['usable']} usable"
    if counts["physical"]:
        cores += f", {counts['physical']} physical"
    memory = memory_bytes()
    gpus = gpu_names()
    accelerator = ", ".join(gpus) if gpus else "none found"
    if tpu_runtime_present():
        accelerator += "; TPU runtime present"
    versions = " | ".join(
        f"{name} {value or 'not installed'}" for name, value in framework_versions().items()
    )
    lines = [
        f"CPU     : {cpu_model()} ({cores})",
        f"Memory  : {memory / 2**30:.1f} GiB" if memory else "Memory  : unknown",
        f"GPU/TPU : {accelerator}",
        f"Software: {versions}",
    ]
    return "\n".join(lines)


def print_hardware_report() -> None:
    """Print hardware_report(); the notebooks call this in their setup cell."""
    print(hardware_report())
