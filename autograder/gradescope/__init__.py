"""The course as a Gradescope autograder: build.py writes the zip, run.py grades one
submission inside Gradescope's container with cs231n-grade, results.py writes results.json."""
