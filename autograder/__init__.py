"""The instructors' side of the course: release, grading, exports."""

import os
import sys

# jsonschema (under nbformat) imports rfc3987_syntax where it is installed (jupyter-events asks
# for it), and that module builds 39 parsers at import: about 1 s of every grader and nbgrader
# process's start (`python -X importtime -c "import nbformat"`), for the "iri" formats that no
# schema we or nbgrader validate uses. Without it, jsonschema leaves those two formats unchecked.
sys.modules.setdefault("rfc3987_syntax", None)

# nbgrader's gradebook starts `alembic` by name when it creates a database: a grader started by
# its full path, its environment not activated, would fail to write the gradebook. This
# environment's bin/ comes first on PATH, for our processes and those they start.
_BIN = os.path.dirname(sys.executable)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = os.pathsep.join(p for p in (_BIN, os.environ.get("PATH")) if p)
