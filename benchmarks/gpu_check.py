"""Run the PyTorch notebooks in one plain Python process and report the hardware they measure.

    .venv/bin/python benchmarks/gpu_check.py [--notebooks 00 04 ...] [--out DIR]
                                             [--device-required cuda] [--threads N] [-v]

For a machine with a GPU and only what a stock GPU image has: Python, PyTorch, NumPy and
matplotlib (no Jupyter, nbclient or TensorFlow). The code cells of the solution notebooks
00 and 04-08 run cell by cell, each notebook in a fresh namespace (gpu_cells.py: IPython-only
lines removed, TensorFlow and Keras made unimportable and the statements that need them taken
out, each reported), with `cs231n_utils` imported from this checkout. The report says, per
notebook, whether every cell ran, which device `cs231n_utils.devices` picked and the hardware
figures the notebook printed (gpu_figures.py); it is written to DIR (default
benchmarks/results/) as gpu_check_<cpu or the GPU's name>_<date>.json and .md.

The hidden tests of the solution notebooks run too: outside a grader `graded.answer` only
checks that a value is finished, and they call the notebooks' functions on more inputs on the
device, as the grader does on a GPU box (--no-hidden-tests runs what students run).
Exit status: 0 when every cell ran, 1 when a cell failed, 2 when --device-required was not met.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions" / "dl_software"
PYTORCH_NOTEBOOKS = ("00_hardware", "04_pytorch_autograd", "05_pytorch_nn_optim",
                     "06_data_loading", "07_static_vs_dynamic", "08_convnets")  # fmt: skip
STATUSES = ("ran", "trimmed", "skipped", "failed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--notebooks",
        nargs="+",
        default=list(PYTORCH_NOTEBOOKS),
        help="names or number prefixes (00 04 ...); default: 00 and 04-08",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument(
        "--device-required",
        choices=("cuda", "mps", "cpu"),
        help="exit with status 2, before running anything, unless "
        "cs231n_utils picks this kind of device",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="CPU threads for PyTorch and BLAS (default: the CPUs this process may use)",
    )
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=600.0,
        help="seconds one cell may run before it is recorded as failed",
    )
    parser.add_argument("--no-hidden-tests", dest="hidden_tests", action="store_false")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo what cells print")
    args = parser.parse_args(argv)
    args.notebooks = [resolve(name, parser) for name in args.notebooks]
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def resolve(name: str, parser: argparse.ArgumentParser) -> Path:
    """The solution notebook called `name` ("08", "08_convnets" or "08_convnets.ipynb")."""
    stem = name.removesuffix(".ipynb")
    found = sorted(p for p in SOLUTIONS.glob("*.ipynb") if p.stem == stem
                   or p.stem.split("_")[0] == stem)  # fmt: skip
    if len(found) != 1:
        known = ", ".join(p.stem for p in sorted(SOLUTIONS.glob("*.ipynb")))
        parser.error(f"no single notebook {name!r} in {SOLUTIONS} (there are: {known})")
    return found[0]


def _driver() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else None


def machine(threads: int) -> dict:
    """This machine: host, CPU, memory, GPU (name, memory, capability, driver), versions."""
    import torch

    from cs231n_utils import devices

    memory = devices.memory_bytes()
    info = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": devices.cpu_model(),
        "cpu_counts": devices.cpu_counts(),
        "memory_gib": round(memory / 2**30, 1) if memory else None,
        "threads": threads,
        "load_average_before": round(os.getloadavg()[0], 2),  # others' work slows the timings
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "versions": devices.framework_versions(),
        "gpu": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = {
            "name": torch.cuda.get_device_name(0),
            "count": torch.cuda.device_count(),
            "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}",
            "multiprocessors": props.multi_processor_count,
            "driver": _driver(),
        }
    return info


def notebook_report(run, gpu_name: str | None) -> dict:
    """One notebook's entry of the JSON report."""
    from gpu_figures import read_figures

    device = run.namespace.get("device")
    figures, notes, details = read_figures(run.name, run.namespace, run.stdout, gpu_name)
    counts = {status: run.count(status) for status in STATUSES}
    return {
        "device": None if device is None else str(device),
        "cells": {"code": len(run.cells), **counts},
        "every_cell_ran": counts["failed"] == 0,
        "failures": [
            {"cell": c.index, "grade_id": c.grade_id, "error": c.error, "traceback": c.traceback}
            for c in run.cells
            if c.status == "failed"
        ],
        "changed": [
            {
                "cell": c.index,
                "grade_id": c.grade_id,
                "status": c.status,
                "reason": c.reason,
                "removed": c.removed,
            }
            for c in run.cells
            if c.removed or c.status == "skipped"
        ],
        "seconds": round(run.seconds, 2),
        "warnings": run.warnings,
        "figures": figures,
        "figure_notes": notes,
        "details": details,
    }


def run_all(args: argparse.Namespace) -> dict:
    """Run the notebooks, in this process, and return the report."""
    import torch
    from gpu_cells import block_tensorflow, run_notebook

    from cs231n_utils.devices import torch_device_choice

    block_tensorflow()
    choice = torch_device_choice()
    info = machine(args.threads)
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/gpu_check.py", *args.argv]),
        "machine": info,
        "device": {"kind": choice.kind, "name": choice.name, "fallbacks": choice.fallbacks},
        "device_required": args.device_required,
        "hidden_tests": args.hidden_tests,
        "tensorflow": "made unimportable; statements that need it are taken out and listed",
        "notebooks": {},
    }
    if args.device_required and choice.kind != args.device_required:
        return report
    precision = torch.get_float32_matmul_precision()
    gpu_name = info["gpu"]["name"] if info["gpu"] else None
    echo = sys.stdout if args.verbose else None
    for path in args.notebooks:
        torch.set_num_threads(args.threads)  # notebook 08 sets one thread for itself
        torch.set_float32_matmul_precision(precision)
        torch.set_default_dtype(torch.float32)
        with tempfile.TemporaryDirectory(prefix="gpu_check_") as folder:
            os.chdir(folder)  # what a notebook writes next to itself goes nowhere
            try:
                run = run_notebook(path, args.hidden_tests, args.cell_timeout, echo)
            finally:
                os.chdir(REPO)
        entry = report["notebooks"][path.stem] = notebook_report(run, gpu_name)
        cells = entry["cells"]
        print(
            f"{path.stem:22s} {cells['ran'] + cells['trimmed']}/{cells['code']} cells ran "
            f"({cells['trimmed']} trimmed, {cells['skipped']} skipped, {cells['failed']} "
            f"failed) in {run.seconds:5.1f} s on {entry['device']}",
            file=sys.stderr,
        )
    report["machine"]["load_average_after"] = round(os.getloadavg()[0], 2)
    return report


def _value(value: float, unit: str) -> str:
    if unit == "fraction":
        return f"{value:.1%}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.2f} {unit}" if unit == "s" or value < 10 else f"{value:,.1f} {unit}"


def markdown(report: dict) -> str:
    """The report as a short Markdown page: cells per notebook, then the figures."""
    from gpu_figures import FIGURES

    info, gpu = report["machine"], report["machine"]["gpu"]
    hardware = (f"{gpu['name']} ({gpu['memory_gib']} GiB, compute capability "
                f"{gpu['capability']}, driver {gpu['driver'] or 'unknown'})" if gpu
                else "no GPU")  # fmt: skip
    lines = [
        f"# GPU check: {gpu['name'] if gpu else 'CPU only'}, {report['created'][:10]}",
        "",
        f"Machine `{info['hostname']}`: {info['cpu']} ({info['cpu_counts']['usable']} usable "
        f"cores, {info['threads']} threads; load average {info['load_average_before']} "
        f"before, {info.get('load_average_after')} after), {hardware}; torch {info['torch']} (CUDA "
        f"{info['torch_cuda'] or 'none'}). `cs231n_utils` picked **{report['device']['kind']}"
        f"**: {report['device']['name']}.",
        "",
        "| notebook | device | code cells | ran | trimmed (TF) | skipped (TF) | failed | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, nb in report["notebooks"].items():
        c = nb["cells"]
        lines.append(
            f"| {name} | {nb['device']} | {c['code']} | {c['ran']} | {c['trimmed']} | "
            f"{c['skipped']} | {c['failed']} | {nb['seconds']:.1f} |"
        )
    lines += ["", "| figure | value | notebook | what |", "|---|---|---|---|"]
    for key, (name, unit, what) in FIGURES.items():
        nb = report["notebooks"].get(name)
        if nb is None:
            shown = "not run"
        elif key in nb["figures"]:
            shown = _value(nb["figures"][key], unit)
        else:
            shown = f"null: {nb['figure_notes'].get(key, 'not computed')}"
        lines.append(f"| `{key}` | {shown} | {name[:2]} | {what} |")
    problems = [
        f"- {name} cell {f['cell']} ({f['grade_id'] or 'no id'}): {f['error']}"
        for name, nb in report["notebooks"].items()
        for f in nb["failures"]
    ]
    changed = [f"- {name} cell {c['cell']} ({c['grade_id'] or 'no id'}) {c['status']}: "
               f"{c['reason']}" for name, nb in report["notebooks"].items()
               for c in nb["changed"]]  # fmt: skip
    if problems:
        lines += ["", "Failed cells:", *problems]
    if changed:
        lines += [
            "",
            "Cells changed to run without TensorFlow/Keras (statements listed in the JSON):",
            *changed,
        ]
    return "\n".join(lines) + "\n"


def write(report: dict, out: Path) -> Path:
    """Write gpu_check_<hardware>_<date>.json and .md into `out`; return the JSON's path."""
    gpu = report["machine"]["gpu"]
    tag = re.sub(r"[^a-z0-9]+", "-", gpu["name"].lower()).strip("-") if gpu else "cpu"
    stem = out / f"gpu_check_{tag}_{report['created'][:10]}"
    out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    return stem.with_suffix(".json")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(args.threads))  # before NumPy and torch load BLAS
    os.environ["MPLBACKEND"] = "Agg"  # no display: figures are drawn and closed
    sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]
    report = run_all(args)
    if args.device_required and report["device"]["kind"] != args.device_required:
        print(
            f"--device-required {args.device_required}: cs231n_utils picked "
            f"{report['device']['kind']} ({report['device']['name']}; "
            f"{'; '.join(report['device']['fallbacks'])}); nothing was run",
            file=sys.stderr,
        )
        return 2
    path = write(report, args.out)
    print(f"report: {path} and {path.with_suffix('.md').name}", file=sys.stderr)
    return 0 if all(nb["every_cell_ran"] for nb in report["notebooks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
