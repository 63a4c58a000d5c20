import os

import pytest

from autograder.course import notebook_names

# debugpy (inside ipykernel) warns on stderr about frozen modules at kernel start.
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.fixture(scope="session")
def notebooks() -> list[str]:
    names = notebook_names()
    assert names, "no solution notebooks found"
    return names
