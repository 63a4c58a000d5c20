# The verbs of this repository. Every target creates .venv when it is missing (and refreshes
# it when pyproject.toml changes), so `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUBMISSIONS ?= data/sample_submissions
OUT ?= build/grades
GRADE_FLAGS ?=
GPU_CHECK_FLAGS ?=
# nbgrader starts alembic as a subprocess: the environment's bin/ must come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install system-deps test-deps demo test test-fast release check-release lab grade gradescope gpu-check lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[grader,dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages, installed with apt-get when missing and root: $(call APT,command,package,why)
APT = command -v $(1) >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	apt-get update -qq && apt-get install -y -qq $(2) >/dev/null; } || echo "$(2) is missing: $(3)"

## system-deps: bubblewrap, for the grader's sandbox
system-deps:
	@$(call APT,bwrap,bubblewrap,install it to sandbox grading)

## test-deps: system-deps and Debian's chromium, for the JupyterLab browser test
test-deps: system-deps
	@$(call APT,chromium,chromium,the JupyterLab browser test will be skipped)

## demo: build the release from solutions/, grade the sample submissions with cs231n-grade
## (sandboxed; our own samples are graded unsandboxed, loudly, where no sandbox is possible)
demo: $(STAMP) system-deps
	$(BIN)/python -m autograder.authoring.release
	$(BIN)/cs231n-grade --check-sandbox >/dev/null || unsafe=--unsafe-run-student-code-without-sandbox; \
	$(BIN)/cs231n-grade $(SUBMISSIONS) --out build/demo $$unsafe \
		--expect data/sample_submissions/expected_scores.csv

## test: lint, then the whole test suite (notebooks executed and graded included)
test: $(STAMP) test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup

## test-fast: the unit tests only (no notebook execution, no grading)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow'

## release: regenerate notebooks/ and the sample submissions from solutions/
release: $(STAMP)
	$(BIN)/python -m autograder.authoring.release

check-release: $(STAMP)
	$(BIN)/python -m autograder.authoring.release --check

## lab: start JupyterLab on the student notebooks, as students see it (no nbgrader menus)
# The instructors' environment holds nbgrader; the students' JupyterLab turns its extensions
# off with config/jupyter-students (a front-end extension and four server extensions).
lab: export JUPYTER_CONFIG_PATH = $(CURDIR)/config/jupyter-students
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/dl_software

## grade: grade SUBMISSIONS (student folders, a class zip, cs231n-submit zips or a Canvas download) into OUT
grade: $(STAMP) system-deps
	$(BIN)/cs231n-grade $(SUBMISSIONS) --out $(OUT) $(GRADE_FLAGS)

## gradescope: build/gradescope/autograder.zip, to upload as a Gradescope autograder; runs the
## solutions here, in the sandbox, for its references (NOTEBOOKS="01_numpy_gradients ..." grades only
## those; VISIBILITY=visible shows results at once, the default after the due date); refuses a
## release out of date with solutions/
gradescope: $(STAMP) system-deps
	$(BIN)/python -m autograder.gradescope.build $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) $(if $(VISIBILITY),--visibility $(VISIBILITY))

## gpu-check: run the PyTorch notebooks (00, 04-08) in one Python process, no Jupyter, and write
## the device and hardware figures to benchmarks/results/ (GPU_CHECK_FLAGS="--device-required cuda"
## on a GPU machine; on an image without .venv: python benchmarks/gpu_check.py)
gpu-check: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py $(GPU_CHECK_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf build .pytest_cache .ruff_cache
