"""What of a student's kernel may be shown to a human: exception kinds from a fixed list.

Trusted side: imports nothing that runs in the kernel. A kernel chooses its exception's class
name and message; only a name on this list passes, everything else reads "another exception".
"""

from __future__ import annotations

EXCEPTION_KINDS = (
    "AssertionError",
    "AttributeError",
    "CheckFailed",
    "FloatingPointError",
    "ImportError",
    "IndentationError",
    "IndexError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotImplementedError",
    "OverflowError",
    "RecursionError",
    "RuntimeError",
    "StopIteration",
    "SyntaxError",
    "SystemExit",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "ValueError",
    "ZeroDivisionError",
)


def exception_kind(name: object) -> str:
    """`name` if it is a kind on the list, else "another exception"."""
    return name if isinstance(name, str) and name in EXCEPTION_KINDS else "another exception"
