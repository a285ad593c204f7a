"""TensorFlow's start-up noise, silenced once in cnn_course (and so in the grader)."""

from __future__ import annotations

import os
import subprocess
import sys

from cnn_course import quiet_stderr


def _python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_tensorflow_starts_quietly_after_cnn_course():
    """Does a fresh `import cnn_course, tensorflow`, then a first Keras model run (where
    cuInit fails on a machine without a GPU), print nothing at all on stderr?"""
    proc = _python(
        "import cnn_course, tensorflow, keras\n"
        "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
        "print(model.predict(tensorflow.zeros((1, 4)), verbose=0).shape)\n"
        "print(tensorflow.__spec__.loader is tensorflow.__loader__, type(tensorflow.__loader__).__name__)"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == ""
    assert proc.stdout.split() == ["(1,", "2)", "True", "SourceFileLoader"]


def test_a_notebook_that_imports_keras_first_builds_its_model_quietly(monkeypatch, tmp_path):
    """In a Jupyter kernel (which shows what C code writes to stderr), when keras comes before
    cnn_course, does the cell that builds and runs the first model print nothing on stderr
    (TensorFlow's own loading lines, printed before cnn_course loads, cannot be taken back)?"""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv("CNN_COURSE_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import keras\nimport numpy as np"),
        nbformat.v4.new_code_cell("from cnn_course import fast_mode"),
        nbformat.v4.new_code_cell(
            "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
            "print(model.predict(np.zeros((1, 4)), verbose=0).shape)"
        ),
    ]
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    model_cell = nb.cells[2].outputs
    assert [o.get("name") for o in model_cell] == ["stdout"], model_cell
    assert model_cell[0]["text"].strip() == "(1, 2)"
    assert not [o for o in nb.cells[1].outputs if o.get("name") == "stderr"]


def test_the_grader_imports_the_hook_and_no_tensorflow():
    """Does the grader's command line (the parent that verifies Keras models) get the quiet
    import hook and TensorFlow's log level 3, without importing TensorFlow or NumPy (a NumPy
    assignment never loads TensorFlow)?"""
    proc = _python(
        "import os, sys, autograder.cli\n"
        "print(any(type(f).__name__ == '_QuietTensorFlow' for f in sys.meta_path),"
        " os.environ['TF_CPP_MIN_LOG_LEVEL'], 'tensorflow' in sys.modules, 'numpy' in sys.modules)"
    )
    assert proc.stdout.split() == ["True", "3", "False", "False"], proc.stderr


def test_a_low_log_level_set_by_the_user_hides_nothing():
    """With TF_CPP_MIN_LOG_LEVEL=0 (the user wants TensorFlow's log), is no hook installed?"""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, cnn_course\n"
            "print(any(type(f).__name__ == '_QuietTensorFlow' for f in sys.meta_path))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"},
        timeout=60,
    )
    assert proc.stdout.strip() == "False", proc.stderr


def test_only_known_noise_is_dropped(capfd):
    """Is a line that is not TensorFlow's known start-up noise printed back, not lost?"""
    with quiet_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called\n")
        os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers\n")
        os.write(2, b"a real error\n")
    assert capfd.readouterr().err == "a real error\n"
