# The verbs of this repository. Every target creates .venv when it is missing (and refreshes
# it when pyproject.toml changes), so `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUBMISSIONS ?= data/sample_submissions
OUT ?= build/grades
# nbgrader starts alembic as a subprocess: the environment's bin/ must come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install demo test test-fast release check-release lab grade lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[grader,dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: build the release from solutions/, grade the sample submissions, print the scores
demo: $(STAMP)
	$(BIN)/python -m autograder.release
	$(BIN)/python -m autograder.grade $(SUBMISSIONS) --out build/demo \
		--expect data/sample_submissions/expected_scores.csv

## test: lint, then the whole test suite (notebooks executed and graded included)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup

## test-fast: the unit tests only (no notebook execution, no grading)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow'

## release: regenerate notebooks/ and the sample submissions from solutions/
release: $(STAMP)
	$(BIN)/python -m autograder.release

check-release: $(STAMP)
	$(BIN)/python -m autograder.release --check

## lab: start JupyterLab on the student notebooks
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/dl_software

## grade: grade SUBMISSIONS (one folder per student) into OUT
grade: $(STAMP)
	$(BIN)/python -m autograder.grade $(SUBMISSIONS) --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf build .pytest_cache .ruff_cache
