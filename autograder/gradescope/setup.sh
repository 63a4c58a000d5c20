#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image, from the unpacked
# zip in /autograder/source (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
# It installs the course's pinned environment and bubblewrap (where the image allows), makes the
# package's files root's alone but the helpers and data (run.py's lock_down), then grades the
# student release once against the shipped references (references.json, computed by the build:
# the package holds no solution), which checks that they match this course and that grading
# works in this image. CS231N_GRADESCOPE_SKIP_INSTALL=1 skips the install and uses
# $CS231N_GRADESCOPE_PYTHON (default python3), as the tests do.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"

if [ "${CS231N_GRADESCOPE_SKIP_INSTALL:-}" = 1 ]; then
    PYTHON="$(command -v "${CS231N_GRADESCOPE_PYTHON:-python3}")"
else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
    # The sandbox's first wall; without it student kernels run as an unprivileged uid only.
    if ! apt-get install -y -qq bubblewrap >/dev/null; then
        echo "setup.sh: bubblewrap could not be installed; grading will use isolation 'uid'"
    fi
    python3 -m venv "$ROOT/venv"
    PYTHON="$ROOT/venv/bin/python"
    "$PYTHON" -m pip install --quiet --upgrade pip
    # torch's CPU build first: PyPI's Linux wheel pulls gigabytes of CUDA libraries
    "$PYTHON" -m pip install --quiet torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
    "$PYTHON" -m pip install --quiet -e "$SOURCE[grader]"  # the pins of pyproject.toml
fi
echo "$PYTHON" >"$ROOT/cs231n-python"  # run_autograder grades with the same interpreter
cd "$SOURCE"
PYTHONPATH="$SOURCE" "$PYTHON" -m autograder.gradescope.run --setup
