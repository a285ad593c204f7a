# The front door. On a fresh clone, `make demo` and `make test` are all you need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASSIGNMENTS := a0_neurons a1_convolution a2_keras_cnn a3_backprop a4_keras_training a5_inside_cnns
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Test files run on this many pytest-xdist workers (a file stays on one worker: its fixtures are
# shared; each notebook run is a unit of its own: tests/conftest.py).
TEST_WORKERS ?= $(JOBS)
# `make grade AID=a1_convolution SUBMISSIONS=submitted` grades a class.
AID ?= a1_convolution
SUBMISSIONS ?= submitted
OUT ?= grades/$(AID)

# JupyterLab (`make lab`) must show figures inline: only the headless targets get Agg.
# `lab` also drops an Agg inherited from the calling shell (a CI job, `make test`).
export TF_CPP_MIN_LOG_LEVEL := 2
export KERAS_BACKEND ?= tensorflow
demo test test-full grade bench: export MPLBACKEND := Agg
JUPYTER ?= $(BIN)/jupyter

.PHONY: setup demo test test-full lab release grade bench format clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/python -m autograder.release $(ASSIGNMENTS)
	$(BIN)/autograder grade a0_neurons tests/submissions/a0_neurons/submitted --out grades/demo/a0_neurons --jobs $(JOBS) --timeout 20
	$(BIN)/autograder grade a1_convolution tests/submissions/a1_convolution/submitted --out grades/demo/a1_convolution --jobs $(JOBS) --timeout 20
	$(BIN)/autograder grade a2_keras_cnn tests/submissions/a2_keras_cnn/submitted --out grades/demo/a2_keras_cnn --jobs $(JOBS) --timeout 120
	$(BIN)/autograder grade a3_backprop tests/submissions/a3_backprop/submitted --out grades/demo/a3_backprop --jobs $(JOBS) --timeout 40
	$(BIN)/autograder grade a4_keras_training tests/submissions/a4_keras_training/submitted --out grades/demo/a4_keras_training --jobs $(JOBS) --timeout 180
	$(BIN)/autograder grade a5_inside_cnns tests/submissions/a5_inside_cnns/submitted --out grades/demo/a5_inside_cnns --jobs $(JOBS) --timeout 150
	@echo "Feedback for each student: grades/demo/<assignment>/<student>/feedback.html"

test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# Every lecture and solution notebook in full mode (no CNN_COURSE_FAST), as a learner runs them,
# and nbgrader's harness on every honest sample submission (`make test` gives it a sample):
# longer than `make test`, so not part of it. Fails on any cell error or score difference.
test-full: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist load --full tests/test_full_mode.py
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --full \
		-k "nbgrader_autograde or harnesses_agree" \
		tests/test_a0_nbgrader.py tests/test_a1_nbgrader.py tests/test_a2_grading.py tests/test_a3_nbgrader.py tests/test_a4_grading.py tests/test_a5_grading.py

# `make lab LAB_ARGS="--no-browser --port 8890"`; as root (a container) it adds --allow-root.
LAB_ARGS ?=
lab: setup
	env -u MPLBACKEND TF_CPP_MIN_LOG_LEVEL=3 $(JUPYTER) lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

release: setup
	$(BIN)/python -m autograder.release $(ASSIGNMENTS) --bundle dist/cnn-course-student

# SUBMISSIONS is one path, spaces allowed (SUBMISSIONS="Fall 2025 A1"), or several separated by
# spaces when no path of that whole name exists; GRADE_ARGS adds options ("--resume --roster r.csv").
grade: setup
	@set -f; set -- $(SUBMISSIONS); if [ -e "$(SUBMISSIONS)" ]; then set -- "$(SUBMISSIONS)"; fi; set +f; \
	set -x; "$(BIN)/autograder" grade "$(AID)" "$$@" --out "$(OUT)" --jobs $(JOBS) $(GRADE_ARGS)

bench: setup
	$(BIN)/python bench/grading.py a0_neurons
	$(BIN)/python bench/grading.py a1_convolution
	$(BIN)/python bench/grading.py a2_keras_cnn
	$(BIN)/python bench/grading.py a3_backprop
	$(BIN)/python bench/grading.py a4_keras_training
	$(BIN)/python bench/grading.py a5_inside_cnns
	$(BIN)/python bench/isolation.py

format: setup
ifeq ($(CI),true)
	$(BIN)/ruff format --check cnn_course autograder tests bench
	$(BIN)/ruff check cnn_course autograder tests bench
	$(BIN)/nbstripout --verify course/*.ipynb course/answers/*.ipynb solutions/*/*.ipynb assignments/*/*.ipynb
else
	$(BIN)/ruff format cnn_course autograder tests bench
	$(BIN)/ruff check --fix cnn_course autograder tests bench
	$(BIN)/nbstripout course/*.ipynb course/answers/*.ipynb solutions/*/*.ipynb assignments/*/*.ipynb
endif

clean:
	rm -rf grades dist gradebook.db autograded feedback
