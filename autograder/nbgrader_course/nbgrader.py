"""`python -m autograder.nbgrader_course.nbgrader ARGS...` is `nbgrader ARGS...`, unchanged,
started through this package so that its start-up trim (autograder/__init__.py) applies."""

from nbgrader.apps.nbgraderapp import main

if __name__ == "__main__":
    main()
