"""Submissions that attack or stress the batch grader, built from the real notebook 01, each
with the points and status it must get per question.

Cheats start from the untouched release (every answer wrong) and must still score 0. Heavy or
hostile code is added to the complete sample, which must keep every point that does not
depend on the hostile cell. Isolation probes define the right answers only if the sandbox
let them read or reach what it must not, so 0 points proves the wall held.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat

from autograder.course import REPO_ROOT, SAMPLES, SOLUTIONS
from autograder.notebooks import grade_id, read

NOTEBOOK = "01_numpy_gradients"
LONG_ID = "a" * 200 + "-long-student-id-" + "b" * 33  # 250 characters
FILE = f"{NOTEBOOK}.ipynb"
POINTS = {
    "test_graph_gradients": 2,
    "test_two_layer_loss": 1,
    "test_two_layer_gradients": 3,
    "test_training": 2,
    "test_numerical_gradient": 2,
}
FULL = {q: (p, "ok") for q, p in POINTS.items()}
ZERO = {q: (0, "ok") for q in POINTS}
# Only the two forward passes written: what an honest half-finished notebook earns (1 / 10).
FORWARD = {**ZERO, "test_two_layer_loss": (1, "ok")}
FORWARD_PASSES = {
    "graph_forward_backward": "c = float(np.sum(x * y + z))",
    "two_layer_loss": "loss = float(np.sum((np.maximum(x @ w1, 0) @ w2 - y) ** 2) / len(x))",
}

SOLUTION_CELLS = ("graph_forward_backward", "two_layer_loss", "train_two_layer",
                  "eval_numerical_gradient")  # fmt: skip

# Defines every answer from a notebook file's solution cells, if the file can be read.
STEAL = """
import json as _json
def _steal(path):
    try:
        cells = _json.load(open(path))["cells"]
    except Exception as error:
        print("blocked:", type(error).__name__)
        return
    for cell in cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and \\
                cell["cell_type"] == "code":
            exec("".join(cell["source"]), globals())
_steal(PATH)
"""


def _cell(source: str):
    return nbformat.v4.new_code_cell(source)


def _base(kind: str):
    return read(SAMPLES / kind / FILE)


def _with_cell(kind: str, source: str, after: str = "setup"):
    nb = _base(kind)
    index = next(i for i, c in enumerate(nb.cells) if grade_id(c) == after)
    nb.cells.insert(index + 1, _cell(source))
    return nb


def _stealing(prefix: str):
    """The untouched notebook with STEAL (after `prefix`, which sets PATH) at the end of every
    answer cell, so that what it steals replaces the stubs and reaches every test."""
    nb = _base("untouched")
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source += "\n" + prefix + STEAL
    return nb


def _patched_solution(gid: str, first_line: str):
    """The complete notebook with `first_line` run at the start of function `gid`'s body."""
    nb = _base("complete")
    cell = next(c for c in nb.cells if grade_id(c) == gid)
    opening = cell.source.index('"""')
    closing = cell.source.index('"""', opening + 3) + 3  # the end of the docstring
    cell.source = f"{cell.source[:closing]}\n    {first_line}{cell.source[closing:]}"
    return nb


def _forward_only(extra: str = "", inside: dict[str, str] | None = None):
    """The release with only the two forward passes written (honest score 1 / 10), then an
    extra cell after the setup and extra lines at the start of some functions' bodies."""
    nb = _base("untouched")
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in FORWARD_PASSES:
            cell.source = cell.source.replace("# YOUR CODE HERE", FORWARD_PASSES[gid])
        if inside and gid in inside:
            marker = "# YOUR CODE HERE" if gid not in FORWARD_PASSES else FORWARD_PASSES[gid]
            cell.source = cell.source.replace(marker, f"{inside[gid]}\n    {marker}")
    if extra:
        index = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "setup")
        nb.cells.insert(index + 1, _cell(extra))
    return nb


# Forgers: each tries to make the grader accept answers the notebook did not compute.
_FORGED_LINES = [
    "from IPython.display import display\n",
    'display({\'application/x-cs231n-answers+json\': \'{"answers": [], "end": "ok"}\'}, '
    "raw=True)\n",
]
FORGE_TRANSFORMER = f"""
def _forge(lines):
    return {_FORGED_LINES!r}
get_ipython().input_transformers_post.append(_forge)
"""
FORGE_PATCH_ANSWER = """
import cs231n_utils.graded as _g
_real_answer = _g.answer
def _lax(name, value, rule="close", **kw):
    kw.pop("tol", None)
    _real_answer(name, value, "recorded", tol=1e9, **kw)
_g.answer = _lax
"""
FORGE_PATCH_RECORDING = """
    import cs231n_utils.graded as _g
    if _g._recording is not None:
        _g._recording[:] = [dict(a, rule="recorded", value={"t": "array", "dtype": "<f8",
                             "shape": [1], "data": [1.0]}) for a in _g._recording]"""
FORGE_COMPILE = """
import builtins
_compile = builtins.compile
def compile(source, filename, mode, *args, **kwargs):
    return _compile("pass", filename, mode) if filename == "<graded test>" else \
        _compile(source, filename, mode, *args, **kwargs)
builtins.compile = compile
"""
FORGE_LATE_DISPLAY = """
from IPython.display import display
_forged = '{"answers": [], "end": "ok"}'
get_ipython().events.register(
    "post_run_cell",
    lambda result: display({"application/x-cs231n-answers+json": _forged}, raw=True))
"""
# grads of the right shape, taken from any array in the callers' frames (a reference, if
# the test computed one) or zeros
FORGE_FRAMES = """
    import inspect as _inspect
    _found = {}
    for _frame in _inspect.stack()[1:]:
        for _name, _value in _frame.frame.f_locals.items():
            if isinstance(_value, np.ndarray):
                _found.setdefault(_value.shape, _value)
    grad_w1 = _found.get(w1.shape, np.zeros_like(w1)).copy()
    grad_w2 = _found.get(w2.shape, np.zeros_like(w2)).copy()
    return float(np.sum((np.maximum(x @ w1, 0) @ w2 - y) ** 2) / len(x)), \
        {"w1": grad_w1, "w2": grad_w2}"""
FORGE_TENSOR = """
class _Late(np.ndarray):
    def detach(self):
        return self
    def cpu(self):
        return self
    def numpy(self):
        import inspect
        for frame in inspect.stack()[1:]:
            for value in frame.frame.f_locals.values():
                if isinstance(value, np.ndarray) and value.shape == self.shape and \
                        not isinstance(value, _Late):
                    return np.asarray(value)
        return np.asarray(self)
"""
FORGE_SETPROFILE = """
import sys
def _profile(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "answer":
        frame.f_locals.get("params", {}).clear()
        if "rule" in frame.f_locals:
            frame.f_locals["rule"] = "recorded"
sys.setprofile(_profile)
import threading
threading.setprofile(_profile)
"""
FORGE_EXTRA_ANSWERS = """
    import cs231n_utils.graded as _g
    for _ in range(3):
        _g.answer("dloss/dw1", np.zeros_like(w1))"""
# Leaks: each tries to carry the hidden test's source to a human (feedback, scores, tables).
LEAK_SOURCE = """
    import inspect as _inspect, base64 as _b64
    _source = next((f.frame.f_locals["test_source"] for f in _inspect.stack()
                    if "test_source" in f.frame.f_locals), "none")
    {action}"""
# Hidden inputs kept in the kernel's memory and in every writable place, then raised by a later
# exercise's visible check: the feedback shows that check's message, from a second run with no
# hidden test (reasons.py), so only the visible inputs may appear in it.
KEEP_SHAPES = """
    import os as _os
    _places = ("/tmp/seen", _os.path.expanduser("~/seen"), "seen", "/dev/shm/seen",
               "/var/tmp/seen")
    globals().setdefault("_SEEN", []).append(str(x.shape))
    for _place in _places:
        try:
            with open(_place, "a") as _file:
                _file.write(str(x.shape) + ";")
        except OSError:
            pass"""
RAISE_SHAPES = """
    _found = list(globals().get("_SEEN", []))
    for _place in ("/tmp/seen", _os.path.expanduser("~/seen"), "seen", "/dev/shm/seen",
                   "/var/tmp/seen"):
        try:
            _found.append(open(_place).read())
        except OSError:
            pass
    raise ValueError("seen " + " ".join(_found))"""
VISIBLE_SHAPE, HIDDEN_SHAPES = "(4, 6)", ("(9, 3)", "(1, 5)", "(6, 4)")  # test_two_layer_loss

LEAKS = {
    "leak_exception_name": "raise type(_source[:4000], (Exception,), {})(_source)",
    "leak_exception_message": "raise ValueError(_source[::-1] + _source)",
    "leak_stdout_stderr": "import sys; print(_source); print(_source, file=sys.stderr); "
    "raise KeyError(_b64.b64encode(_source.encode()).decode())",
    "leak_answer_names": "import cs231n_utils.graded as _g; "
    "[_g.answer(line, 1.0, case=line, hint=line) for line in _source.splitlines()]",
    "leak_html_display": "from IPython.display import display, HTML, Javascript; "
    "display(HTML('<pre>' + _source + '</pre>')); display(Javascript('alert(1)'))",
}


def _edit_tests(kind: str, how: str):
    nb = _base(kind)
    tests = [c for c in nb.cells if grade_id(c) in POINTS]
    for cell in tests:
        if how == "edit":
            cell.source = "pass"
        elif how == "retype":
            cell.cell_type = "markdown"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    if how == "delete":
        nb.cells = [c for c in nb.cells if c not in tests]
    if how == "duplicate":
        for cell in tests:
            nb.cells.insert(nb.cells.index(cell), nbformat.from_dict(json.loads(json.dumps(cell))))
    return nb


def build(folder: Path, out: Path) -> dict[str, dict[str, tuple[float, str]]]:
    """Write every submission under folder/<student>/; return the expected outcomes."""
    solution_file = SOLUTIONS / FILE
    cases: dict[str, tuple[object, dict]] = {
        # controls
        "control_complete": (_base("complete"), FULL),
        "control_untouched": (_base("untouched"), ZERO),
        # tampering inside the kernel: every answer is still wrong
        "cheat_transformer_pass": (_with_cell("untouched",
            "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"), ZERO),
        "cheat_transformer_forge": (_with_cell("untouched", FORGE_TRANSFORMER), ZERO),
        # forgers with the forward passes written: no more than the honest 1 / 10
        "control_forward_only": (_forward_only(), FORWARD),
        "forge_patch_answer": (_forward_only(FORGE_PATCH_ANSWER), FORWARD),
        "forge_patch_recording": (_forward_only(inside={
            "two_layer_loss": FORGE_PATCH_RECORDING,
            "graph_forward_backward": FORGE_PATCH_RECORDING}), ZERO),
        "forge_builtins_compile": (_forward_only(FORGE_COMPILE), ZERO),
        "forge_late_display": (_forward_only(FORGE_LATE_DISPLAY), ZERO),
        "forge_frames": (_forward_only(inside={"two_layer_loss": FORGE_FRAMES}), FORWARD),
        "forge_tensor_protocol": (_forward_only(FORGE_TENSOR, inside={
            "two_layer_loss": "\n    grad_w1, grad_w2 = np.zeros_like(w1).view(_Late), "
            "np.zeros_like(w2).view(_Late)\n    return float(np.sum((np.maximum(x @ w1, 0) @ w2 "
            "- y) ** 2) / len(x)), {'w1': grad_w1, 'w2': grad_w2}"}), FORWARD),
        "forge_setprofile": (_forward_only(FORGE_SETPROFILE), FORWARD),
        "forge_extra_answers": (_forward_only(inside={"two_layer_loss": FORGE_EXTRA_ANSWERS}),
            ZERO),
        **{name: (_forward_only(inside={"eval_numerical_gradient":
                                        LEAK_SOURCE.format(action=action)}), FORWARD)
           for name, action in LEAKS.items()},
        "leak_hidden_inputs_through_reasons": (_forward_only(inside={
            "two_layer_loss": KEEP_SHAPES,
            "eval_numerical_gradient": "import os as _os" + RAISE_SHAPES}), FORWARD),
        "cheat_assert_allclose": (_with_cell("untouched",
            "np.testing.assert_allclose = lambda *a, **k: None\n"
            "np.allclose = lambda *a, **k: True"), ZERO),
        "cheat_redefine_checks": (_with_cell("untouched",
            "import types\nimport cs231n_utils.checks as _c\n"
            "for _n in dir(_c):\n"
            "    if _n.startswith('check_'):\n"
            "        setattr(_c, _n, lambda *a, **k: 1.0)\n"
            "checks = types.SimpleNamespace(**{n: (lambda *a, **k: 1.0) for n in dir(_c)\n"
            "                                  if n.startswith('check_')})"), ZERO),
        "cheat_rel_error": (_with_cell("untouched",
            "import cs231n_utils.gradcheck as _g\n_g.rel_error = lambda *a, **k: 0.0\n"
            "_g.compare = lambda name, got, expected, tol=1e-7: "
            "_g.Comparison(name, True, True, 0.0, 0.0)"), ZERO),
        "cheat_numpy_sum": (_with_cell("untouched",
            "np.sum = lambda *a, **k: 0.0\nnp.max = lambda *a, **k: 0.0"), ZERO),
        # the kernel serialises its messages with json: the patch silences it, so the
        # cell is killed as a timeout, and the rest runs without it
        "cheat_json_dumps": (_with_cell("untouched",
            "import json\n"
            "json.dumps = lambda *a, **k: '{\"records\": [], \"end\": \"ok\"}'"),
            {**ZERO, "test_graph_gradients": (0, "timeout")}),
        "cheat_edited_tests": (_edit_tests("untouched", "edit"), ZERO),
        "cheat_retyped_tests": (_edit_tests("untouched", "retype"), ZERO),
        "cheat_deleted_tests": (_edit_tests("untouched", "delete"), ZERO),
        # the protected cells come back: a complete notebook keeps its points
        "tests_deleted_complete": (_edit_tests("complete", "delete"), FULL),
        "tests_duplicated_complete": (_edit_tests("complete", "duplicate"), FULL),
        # isolation: the answers appear only if the sandbox leaks
        "steal_solutions": (_stealing(f"PATH = {str(solution_file)!r}"), ZERO),
        "steal_sample_solution": (  # the complete sample, in data/
            _stealing(f"PATH = {str(SAMPLES / 'complete' / FILE)!r}"), ZERO),
        "steal_other_student": (
            _stealing(f"PATH = {str(folder / 'control_complete' / FILE)!r}"), ZERO),
        "steal_gradebook": (_with_cell("untouched",
            f"import sqlite3\ncon = sqlite3.connect({str(out / 'gradebook.db')!r})\n"
            "con.execute('update grade set auto_score = 99')\ncon.commit()"), ZERO),
        "steal_etc_shadow": (_with_cell("untouched", "PATH = '/etc/shadow'" + STEAL
            + "\nprint(open('/etc/hostname').read())"), ZERO),
        "steal_network": (_stealing(
            "import socket\n"
            "try:\n    socket.create_connection(('pypi.org', 443), timeout=5)\n"
            f"    PATH = {str(solution_file)!r}\nexcept OSError as e:\n    PATH = '/nonexistent'\n"
            ), ZERO),
        # hostile or heavy code beside correct answers costs nothing else
        "loop_top_level": (_with_cell("complete", "while True:\n    pass"), FULL),
        "loop_ignores_sigint": (_with_cell("complete",
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
            FULL),
        "loop_in_function": (_patched_solution("eval_numerical_gradient", "while True: pass"),
            {**FULL, "test_numerical_gradient": (0, "timeout")}),
        "memory_at_once": (_with_cell("complete", "big = np.ones(30 * 2**30 // 8)"), FULL),
        "memory_in_steps": (_patched_solution("eval_numerical_gradient",
            "hoard = [np.ones(2**27) for _ in range(240)]"),
            {**FULL, "test_numerical_gradient": (0, "memory")}),
        "fork_bomb": (_with_cell("complete",
            "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
            "        pass"), FULL),
        "daemon": (_with_cell("complete",
            "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        time.sleep(3600)\n    os._exit(0)"), FULL),
        "fill_disk": (_with_cell("complete",
            "chunk = b'x' * 2**26\nfor path in ('/tmp/fill', 'fill'):\n    try:\n"
            "        with open(path, 'wb') as f:\n            for _ in range(64):\n"
            "                f.write(chunk)\n    except OSError as e:\n        print(e)\n"
            "import os\nfor p in ('/tmp/fill', 'fill'):\n    if os.path.exists(p): os.remove(p)"),
            FULL),
        "stdout_flood": (_with_cell("complete",
            "import sys\nline = 'x' * 2**20\nfor _ in range(300):\n    sys.stdout.write(line)"),
            FULL),
        "sys_exit": (_with_cell("complete", "import sys\nsys.exit(3)"), FULL),
        "os_exit_in_function": (_patched_solution("graph_forward_backward",
            "import os; os._exit(1)"), {**FULL, "test_graph_gradients": (0, "crashed")}),
        "kill_parent": (_with_cell("complete",
            "import os, signal\nfor pid in (os.getppid(), 1, -1):\n    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n    except OSError as e:\n        print(e)"),
            FULL),
        "stderr_warnings": (_patched_solution("two_layer_loss",
            "import sys, warnings; warnings.warn('slow'); print('debug', file=sys.stderr)"), FULL),
        "threads_32": (_with_cell("complete",
            "import torch\ntorch.set_num_threads(32)\n"
            "print(float((torch.ones(500, 500) @ torch.ones(500, 500)).sum()))"), FULL),
    }  # fmt: skip
    expected = {}
    for student, (nb, outcome) in cases.items():
        target = folder / student
        target.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target / FILE)
        expected[student] = outcome
    return expected


def remove_deep_folders(folder: Path) -> None:
    """Remove what build_bad_inputs nested 1,100 deep (Python's rmtree, which pytest's clean-up
    uses, recurses and would fail on it)."""
    subprocess.run(["rm", "-rf", str(folder / "bad_deep_folders")], check=True)


def build_bad_inputs(folder: Path) -> dict[str, tuple[str, str]]:
    """Broken submissions: student -> (notebook status, expected word in the message)."""
    complete = _base("complete")
    files = {
        "bad_corrupt_json": b'{"cells": [ {"cell_type": "code"',
        "bad_not_a_notebook": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
        "bad_nbformat_2": json.dumps({"nbformat": 2, "worksheets": []}).encode(),
        "bad_100_mb": json.dumps({**complete, "metadata": {"x": "y" * (100 * 2**20)}}).encode(),
    }
    for student, content in files.items():
        (folder / student).mkdir(parents=True)
        (folder / student / FILE).write_bytes(content)
    (folder / "bad_empty_folder").mkdir()
    (folder / "bad_wrong_file").mkdir()
    (folder / "bad_wrong_file" / "notebook.ipynb").write_text(nbformat.writes(complete))
    v3 = folder / "old_nbformat_3"
    v3.mkdir()
    nbformat.write(nbformat.convert(complete, 3), v3 / FILE, version=3)
    odd = folder.joinpath(b"caf\xe9 \xff student".decode("utf-8", "surrogateescape"))
    odd.mkdir()
    nbformat.write(complete, odd / FILE)
    (folder / "README.txt").write_text("stray file beside the students")
    deep = folder / "bad_deep_json"
    deep.mkdir()
    (deep / FILE).write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    meta = json.loads(nbformat.writes(_base("complete")))  # convert() above changed `complete`
    meta["cells"][0]["metadata"]["nbgrader"] = 1  # valid nbformat, not nbgrader's mapping
    (folder / "bad_nbgrader_metadata").mkdir()
    (folder / "bad_nbgrader_metadata" / FILE).write_text(json.dumps(meta))
    path = folder / "bad_deep_folders"  # remove with remove_deep_folders(): rmtree recurses
    path.mkdir()
    for _ in range(1100):  # os.makedirs recurses too
        path = path / "d"
        path.mkdir()
    nbformat.write(complete, path / FILE)
    for name in (LONG_ID, "Dana", "dana"):  # a 250-character id; two that differ in case
        (folder / name).mkdir()
        nbformat.write(complete, folder / name / FILE)
    return {
        "bad_corrupt_json": ("invalid", "JSON"),
        "bad_not_a_notebook": ("invalid", "UTF-8"),
        "bad_nbformat_2": ("invalid", "nbformat"),
        "bad_100_mb": ("invalid", "MB"),
        "bad_empty_folder": ("missing", "not submitted"),
        "bad_wrong_file": ("missing", "not submitted"),
        "bad_deep_json": ("invalid", "nested"),
        "bad_nbgrader_metadata": ("invalid", "nbgrader"),
        "bad_deep_folders": ("invalid", "nested"),
    }


__all__ = [
    "FORWARD",
    "FULL",
    "HIDDEN_SHAPES",
    "LEAKS",
    "LONG_ID",
    "NOTEBOOK",
    "POINTS",
    "REPO_ROOT",
    "VISIBLE_SHAPE",
    "ZERO",
    "build",
    "build_bad_inputs",
    "remove_deep_folders",
]
