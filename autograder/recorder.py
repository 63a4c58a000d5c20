"""Runs inside the student's kernel: a graded test cell with its checks recorded, not judged.

The batch grader sends this file's text into the sandboxed kernel (the kernel cannot see the
autograder package) and calls `run_probe` with a test cell's source, hidden tests included.
While that source runs, the name `checks` in the notebook's namespace is a recorder that
calls the real check (so the test's control flow is the one students see) and writes down
the values it was given. The records leave the kernel as one JSON document; the grader
recomputes every verdict in its own process and compares the values with those of the
solution notebook (autograder/judge.py). Nothing decided in here is trusted: a kernel that
lies can only make its own records wrong.
"""

from __future__ import annotations

import json

MIME = "text/x-cs231n-records"  # the display channel the records travel on
MAX_ELEMENTS = 2_000_000  # per recorded array; the course's checks use far fewer


def encode(value) -> dict:
    """A JSON description of a checked value: an array's dtype, shape and numbers, or what
    kind of non-array it was."""
    import numpy as np

    from cs231n_utils.checks import to_numpy

    if value is None or value is NotImplemented or value is Ellipsis:
        return {"t": "none"}
    try:
        array = np.asarray(to_numpy(value))
    except Exception:
        return {"t": "object", "type": type(value).__name__}
    if array.dtype.kind not in "biuf":
        return {"t": "object", "type": type(value).__name__}
    if array.size > MAX_ELEMENTS:
        return {"t": "large", "shape": list(array.shape)}
    return {
        "t": "array",
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "data": array.astype(np.float64).ravel().tolist(),
    }


def encode_sequence(value) -> dict:
    if value is None or value is NotImplemented or value is Ellipsis:
        return {"t": "none"}
    try:
        return {"t": "seq", "len": len(value)}
    except TypeError:
        return {"t": "object", "type": type(value).__name__}


class Recorder:
    """Stands in for `cs231n_utils.checks` while a graded test cell runs."""

    def __init__(self):
        from cs231n_utils import checks

        self._real = checks
        self.records: list[dict] = []

    def __getattr__(self, name):  # CheckFailed, to_numpy, ... are the real ones
        return getattr(self._real, name)

    def _record(self, kind: str, name, slots: dict, params: dict, call):
        record = {"kind": kind, "name": str(name)[:300], "slots": {}, "params": params}
        self.records.append(record)
        for slot, (encoder, value) in slots.items():
            record["slots"][slot] = encoder(value)
        try:
            result = call()
        except self._real.CheckFailed:
            record["outcome"] = "failed"
            raise
        record["outcome"] = "ok"
        return result

    def check_ready(self, name, value):
        return self._record(
            "ready", name, {"value": (encode, value)}, {},
            lambda: self._real.check_ready(name, value),
        )  # fmt: skip

    def check_length(self, name, got, length, hint=None):
        return self._record(
            "length", name, {"got": (encode_sequence, got)}, {"length": int(length)},
            lambda: self._real.check_length(name, got, length, hint=hint),
        )  # fmt: skip

    def check_array(self, name, got, shape=None, floating=True, hint=None):
        shape = None if shape is None else [int(n) for n in shape]
        return self._record(
            "array", name, {"got": (encode, got)}, {"shape": shape, "floating": bool(floating)},
            lambda: self._real.check_array(name, got, shape=shape, floating=floating, hint=hint),
        )  # fmt: skip

    def check_scalar(self, name, got, hint=None):
        return self._record(
            "scalar", name, {"got": (encode, got)}, {},
            lambda: self._real.check_scalar(name, got, hint=hint),
        )  # fmt: skip

    def check_close(self, name, got, expected, tol=1e-7, hint=None, quiet=False):
        return self._record(
            "close", name, {"got": (encode, got), "expected": (encode, expected)},
            {"tol": float(tol)},
            lambda: self._real.check_close(name, got, expected, tol=tol, hint=hint, quiet=quiet),
        )  # fmt: skip

    def check_gradient(self, name, analytic, f, x, tol=1e-7, hint=None):
        import numpy as np

        shape = list(np.shape(self._real.to_numpy(x)))
        record = {"kind": "gradient", "name": str(name)[:300], "params": {"tol": float(tol)}}
        record["params"]["shape"] = shape
        record["slots"] = {"analytic": encode(analytic)}
        self.records.append(record)
        try:
            analytic, numeric = self._real.gradient_pair(name, analytic, f, x, hint)
            record["slots"]["numeric"] = encode(numeric)
            self._real.check_close(name, analytic, numeric, tol=tol, hint=hint)
        except self._real.CheckFailed:
            record["outcome"] = "failed"
            raise
        record["outcome"] = "ok"

    def check_loss_decrease(self, losses, factor, name="loss", hint=None):
        return self._record(
            "loss_decrease", name, {"losses": (encode, losses)}, {"factor": float(factor)},
            lambda: self._real.check_loss_decrease(losses, factor, name=name, hint=hint),
        )  # fmt: skip


class Records:
    """The probe's result, shown on a MIME type of its own so that it travels apart from
    anything the student's code prints."""

    def __init__(self, document: str):
        self.document = document

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {MIME: self.document}


def run_probe(test_source: str, max_bytes: int) -> Records:
    """Run one graded test cell in the notebook's namespace with `checks` recorded."""
    from IPython import get_ipython

    namespace = get_ipython().user_ns
    missing = object()
    saved = namespace.get("checks", missing)
    recorder = Recorder()
    namespace["checks"] = recorder
    end: dict = {"end": "ok"}
    try:
        exec(compile(test_source, "<graded test>", "exec"), namespace)
    except BaseException as error:  # whatever the test or the student's code raised
        end = {
            "end": "error",
            "type": type(error).__name__,
            "message": str(error)[:2000],
            "check_failed": isinstance(error, recorder._real.CheckFailed),
        }
    finally:
        if saved is missing:
            namespace.pop("checks", None)
        else:
            namespace["checks"] = saved
    document = json.dumps({"records": recorder.records, **end})
    if len(document) > max_bytes:
        document = json.dumps({"records": [], "end": "too_large", "bytes": len(document)})
    return Records(document)
