# nbgrader's configuration for this repository: solutions/ is nbgrader's source folder and
# notebooks/ its release folder. `make release` runs nbgrader with these same settings (in a
# scratch folder, see autograder/release.py). To run nbgrader by hand against the repository:
#     cd autograder && ../.venv/bin/nbgrader generate_assignment dl_software --force
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.config import apply  # noqa: E402

c = get_config()  # noqa: F821
apply(c, root=REPO, source="solutions", release="notebooks")
c.CourseDirectory.db_url = f"sqlite:///{REPO / '.nbgrader' / 'gradebook.db'}"
