"""Answer documents built in the test process as a kernel's hidden test sends them: the judge's
tests, the judge's attack tests and the feedback-oracle tests build their cases with one
function, so that a change in the document's shape changes them all."""

from __future__ import annotations

import json

from cs231n_utils import graded


def document(*calls, end: str = "ok", error=None) -> dict:
    """The document recorded from graded.answer calls (name, value, kwargs), ended with `end`
    (and `error`, if given), after the JSON round trip it makes on the wire."""
    graded._recording = recorded = []
    try:
        for name, value, kwargs in calls:
            graded.answer(name, value, **kwargs)
    finally:
        graded._recording = None
    sent = {"answers": recorded, "end": end, **({"error": error} if error else {})}
    return json.loads(json.dumps(sent))
