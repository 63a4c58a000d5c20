"""Wall-clock timing that waits for the GPU, and medians over repeated runs."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def synchronize() -> None:
    """Wait until queued GPU work has finished (CUDA or Apple MPS); no-op on CPU.

    GPU kernels run asynchronously: without this a timer measures only the launch.
    Only frameworks that are already imported are touched.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        torch.mps.synchronize()


class Timer:
    """Time a block: `with Timer() as t: ...`, then `t.seconds`.

    The GPU is synchronized before the clock is read at both ends.
    """

    def __init__(self) -> None:
        self.seconds: float | None = None
        self._start: float | None = None

    def __enter__(self) -> Timer:
        synchronize()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        synchronize()
        self.seconds = time.perf_counter() - self._start

    def __repr__(self) -> str:
        return f"Timer(seconds={self.seconds})"


@dataclass
class TimingResult:
    """Seconds per run of a timed function."""

    runs: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best(self) -> float:
        return min(self.runs)

    def __str__(self) -> str:
        return f"median {self.median * 1e3:.3f} ms over {len(self.runs)} runs"


def time_function(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> TimingResult:
    """Call `fn()` `warmup` times untimed, then `repeat` times timed; return the run times.

    Report the median: the machine is shared and single runs are noisy.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    for _ in range(warmup):
        fn()
    result = TimingResult()
    for _ in range(repeat):
        with Timer() as t:
            fn()
        result.runs.append(t.seconds)
    return result
