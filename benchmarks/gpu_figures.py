"""The hardware figures the notebooks print, read back after gpu_check.py has run them.

Each figure is read from the variables a notebook leaves behind where it keeps them (the
timings of notebook 00, the `rates` of notebook 08), and parsed from what it printed where it
only prints them (copy bandwidth, DataLoader epochs). A figure a notebook did not compute on
this machine (no GPU: no GPU timing) is None, with a note that says why.
"""

from __future__ import annotations

import inspect
import math
import re

# key: (notebook, unit, what it is). The order is the report's.
FIGURES = {
    "matmul_cpu_numpy_gflops": ("00_hardware", "GFLOP/s", "NumPy float32 matmul, best size"),
    "matmul_cpu_torch_gflops": ("00_hardware", "GFLOP/s", "PyTorch CPU float32 matmul, best size"),
    "cpu_peak_gflops_assumed": (
        "00_hardware",
        "GFLOP/s",
        "CPU peak from the notebook's assumed clock and FLOPs/cycle",
    ),
    "matmul_cpu_fraction_of_peak": (
        "00_hardware",
        "fraction",
        "best PyTorch CPU matmul / assumed CPU peak",
    ),
    "matmul_gpu_gflops": ("00_hardware", "GFLOP/s", "PyTorch GPU float32 matmul, best size"),
    "gpu_fp32_peak_tflops": (
        "00_hardware",
        "TFLOP/s",
        "the card's FP32 peak, from the notebook's CARDS table",
    ),
    "matmul_gpu_fraction_of_fp32_peak": (
        "00_hardware",
        "fraction",
        "best GPU matmul / the card's FP32 peak",
    ),
    "copy_host_to_device_gbps": ("00_hardware", "GB/s", "host -> device copy, 16 MiB"),
    "copy_pinned_host_to_device_gbps": (
        "00_hardware",
        "GB/s",
        "pinned host -> device copy, 16 MiB",
    ),
    "copy_cpu_memory_gbps": ("00_hardware", "GB/s", "CPU memory -> CPU memory copy, 16 MiB"),
    "dataloader_images_per_s_workers_0": (
        "06_data_loading",
        "images/s",
        "DataLoader epoch, slow source, num_workers=0",
    ),
    "dataloader_images_per_s_workers_2": (
        "06_data_loading",
        "images/s",
        "DataLoader epoch, slow source, num_workers=2",
    ),
    "mlp_training_seconds": ("06_data_loading", "s", "digits MLP, 10 epochs on the device"),
    "convnet_cpu_float32_steps_per_s": (
        "08_convnets",
        "steps/s",
        "ConvNet(32) training steps, batch 256, CPU float32",
    ),
    "convnet_cpu_bfloat16_autocast_speedup": (
        "08_convnets",
        "x",
        "CPU bfloat16 autocast / CPU float32",
    ),
    "convnet_gpu_float32_steps_per_s": (
        "08_convnets",
        "steps/s",
        "ConvNet(32) training steps, batch 256, GPU float32",
    ),
    "convnet_gpu_float16_autocast_speedup": (
        "08_convnets",
        "x",
        "GPU float16 autocast / GPU float32",
    ),
    "convnet_gpu_bfloat16_autocast_speedup": (
        "08_convnets",
        "x",
        "GPU bfloat16 autocast / GPU float32",
    ),
    "convnet_gpu_over_cpu_float32": ("08_convnets", "x", "GPU float32 / CPU float32 steps/s"),
    "convnet_epoch_seconds_cpu": (
        "08_convnets",
        "s",
        "4,000 digits at the CPU float32 rate (batch 256)",
    ),
    "convnet_epoch_seconds_gpu": (
        "08_convnets",
        "s",
        "4,000 digits at the GPU float32 rate (batch 256)",
    ),
    "convnet_training_epoch_seconds": (
        "08_convnets",
        "s",
        "one epoch of check_training (batch 64) on the device",
    ),
}

_COPY = re.compile(r"^(?P<label>\S.*?)\s+(?P<mib>\d+) MiB:\s+(?P<ms>[\d.]+) ms,", re.M)
_WORKERS = re.compile(r"^num_workers=(\d+): one epoch of (\d+) batches in ([\d.]+) s", re.M)
_MLP = re.compile(r"^(\d+) steps in ([\d.]+) s; held-out accuracy", re.M)
_RATE = re.compile(r"^\s*(?P<label>\S.*?): +(?P<rate>[\d.]+) steps/s", re.M)
_CONVNET = re.compile(r"^OK  (\d+) epochs, batches of \d+: \d+ steps in ([\d.]+) s", re.M)


def _gflops(sizes, seconds) -> list[float]:
    return [2 * n**3 / s / 1e9 for n, s in zip(sizes, seconds, strict=True)]


def card_row(gpu_name: str | None, cards) -> tuple | None:
    """The row of notebook 00's CARDS table for this GPU, matched by model ("H100" in
    "NVIDIA H100 80GB HBM3"), or None when the card is not in the table."""
    if not gpu_name:
        return None
    words = set(re.split(r"[\s-]+", gpu_name.upper()))
    return next((row for row in cards if row[0].split()[0].upper() in words), None)


def hardware_00(ns: dict, stdout: str, gpu_name: str | None) -> tuple[dict, dict, dict]:
    """Figures, notes and details of notebook 00 (matmul throughput, peak, copies)."""
    fig, notes, details = {}, {}, {}
    sizes = ns.get("SIZES")
    if sizes and ns.get("numpy_seconds") and ns.get("torch_seconds"):
        numpy_rate = _gflops(sizes, ns["numpy_seconds"])
        torch_rate = _gflops(sizes, ns["torch_seconds"])
        details["matmul_cpu"] = [
            {"n": n, "numpy_gflops": a, "torch_gflops": b}
            for n, a, b in zip(sizes, numpy_rate, torch_rate, strict=True)
        ]
        fig["matmul_cpu_numpy_gflops"] = max(numpy_rate)
        fig["matmul_cpu_torch_gflops"] = max(torch_rate)
        if ns.get("cpu_peak"):
            fig["cpu_peak_gflops_assumed"] = float(ns["cpu_peak"])
            fig["matmul_cpu_fraction_of_peak"] = max(torch_rate) / float(ns["cpu_peak"])
            details["cpu_peak_assumptions"] = {
                "cores": ns.get("cores"),
                "ghz": ns.get("ASSUMED_GHZ"),
                "flops_per_cycle": ns.get("ASSUMED_FLOPS_PER_CYCLE"),
            }
    if ns.get("gpu_sizes"):
        gpu_rate = _gflops(ns["gpu_sizes"], ns["gpu_seconds"])
        details["matmul_gpu"] = [
            {"n": n, "gflops": r} for n, r in zip(ns["gpu_sizes"], gpu_rate, strict=True)
        ]
        fig["matmul_gpu_gflops"] = max(gpu_rate)
        row = card_row(gpu_name, ns.get("CARDS", []))
        if row is None:
            notes["gpu_fp32_peak_tflops"] = f"{gpu_name} is not in notebook 00's CARDS table"
        else:
            details["card"] = {
                "row": row[0],
                "fp32_tflops": row[1],
                "tf32_tflops": row[2],
                "fp16_tflops": row[3],
            }
            fig["gpu_fp32_peak_tflops"] = float(row[1])
            fig["matmul_gpu_fraction_of_fp32_peak"] = max(gpu_rate) / (row[1] * 1e3)
    else:
        why = "no CUDA or MPS GPU: notebook 00 timed no GPU matmul"
        for key in (
            "matmul_gpu_gflops",
            "gpu_fp32_peak_tflops",
            "matmul_gpu_fraction_of_fp32_peak",
        ):
            notes[key] = why
    copies = [
        {
            "copy": m["label"],
            "mib": int(m["mib"]),
            "ms": float(m["ms"]),
            "gbps": int(m["mib"]) * 2**20 / (float(m["ms"]) / 1e3) / 1e9,
        }
        for m in _COPY.finditer(stdout)
        if float(m["ms"]) > 0
    ]
    details["copies"] = copies
    for key, label in (
        ("copy_host_to_device_gbps", "host -> device"),
        ("copy_pinned_host_to_device_gbps", "pinned host -> device"),
        ("copy_cpu_memory_gbps", "CPU memory -> CPU memory"),
    ):
        rows = [c for c in copies if c["copy"] == label]
        if rows:
            fig[key] = max(rows, key=lambda c: c["mib"])["gbps"]
        else:
            notes[key] = f"notebook 00 printed no {label!r} copy on this machine"
    return fig, notes, details


def data_loading_06(ns: dict, stdout: str, gpu_name: str | None) -> tuple[dict, dict, dict]:
    """Figures of notebook 06: DataLoader epochs with and without workers, MLP training."""
    fig, notes, details = {}, {}, {}
    slow = ns.get("slow")
    for workers, batches, seconds in _WORKERS.findall(stdout):
        images = len(slow) if slow is not None else None
        details[f"dataloader_workers_{workers}"] = {
            "batches": int(batches),
            "images": images,
            "seconds": float(seconds),
        }
        if images and float(seconds) > 0:
            fig[f"dataloader_images_per_s_workers_{workers}"] = images / float(seconds)
    for workers in (0, 2):
        if f"dataloader_images_per_s_workers_{workers}" not in fig:
            notes[f"dataloader_images_per_s_workers_{workers}"] = (
                "notebook 06 printed no such epoch (it times workers on Linux only)"
            )
    mlp = _MLP.search(stdout)
    if mlp:
        fig["mlp_training_seconds"] = float(mlp[2])
        details["mlp_training_steps"] = int(mlp[1])
    else:
        notes["mlp_training_seconds"] = "notebook 06 printed no training time"
    return fig, notes, details


def convnets_08(ns: dict, stdout: str, gpu_name: str | None) -> tuple[dict, dict, dict]:
    """Figures of notebook 08: ConvNet steps/s on CPU and GPU, autocast speed-ups, epochs."""
    fig, notes, details = {}, {}, {}
    rates = ns.get("rates")
    if not isinstance(rates, dict):  # fall back on the printed table
        rates = {m["label"].strip(): float(m["rate"]) for m in _RATE.finditer(stdout)}
    rates = {str(k): float(v) for k, v in rates.items()}
    details["convnet_steps_per_s"] = rates
    cpu, gpu = rates.get("CPU float32"), rates.get("GPU float32")
    pairs = {
        "convnet_cpu_float32_steps_per_s": cpu,
        "convnet_cpu_bfloat16_autocast_speedup": _ratio(rates.get("CPU bfloat16 autocast"), cpu),
        "convnet_gpu_float32_steps_per_s": gpu,
        "convnet_gpu_float16_autocast_speedup": _ratio(rates.get("GPU float16 autocast"), gpu),
        "convnet_gpu_bfloat16_autocast_speedup": _ratio(rates.get("GPU bfloat16 autocast"), gpu),
        "convnet_gpu_over_cpu_float32": _ratio(gpu, cpu),
    }
    timed = ns.get("steps_per_second")
    train_x = ns.get("train_x")
    if callable(timed) and train_x is not None:
        batch = inspect.signature(timed).parameters["batch"].default
        steps = math.ceil(len(train_x) / batch)
        details["convnet_epoch"] = {"images": len(train_x), "batch": batch, "steps": steps}
        pairs["convnet_epoch_seconds_cpu"] = steps / cpu if cpu else None
        pairs["convnet_epoch_seconds_gpu"] = steps / gpu if gpu else None
    for key, value in pairs.items():
        if value is None:
            notes[key] = (
                "no CUDA GPU: notebook 08 timed the CPU only"
                if "gpu" in key
                else "notebook 08 did not time this"
            )
        else:
            fig[key] = value
    trained = _CONVNET.search(stdout)
    if trained:
        fig["convnet_training_epoch_seconds"] = float(trained[2]) / int(trained[1])
    else:
        notes["convnet_training_epoch_seconds"] = "notebook 08 printed no training time"
    return fig, notes, details


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


READERS = {
    "00_hardware": hardware_00,
    "06_data_loading": data_loading_06,
    "08_convnets": convnets_08,
}


def read_figures(name: str, namespace: dict, stdout: str, gpu_name: str | None):
    """(figures, notes, details) of notebook `name` (its stem); three empty dicts for a
    notebook that prints no hardware figure. A reader that fails is reported in notes."""
    reader = READERS.get(name)
    if reader is None:
        return {}, {}, {}
    try:
        return reader(namespace, stdout, gpu_name)
    except Exception as error:  # a notebook that changed shape must not lose the report
        keys = [k for k, (nb, _, _) in FIGURES.items() if nb == name]
        return {}, dict.fromkeys(keys, f"could not read: {type(error).__name__}: {error}"), {}
