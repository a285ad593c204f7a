"""Helpers shared by the lectures and the assignments: offline-first data, plotting, modes.

Importing ``cnn_course`` before TensorFlow keeps TensorFlow's start-up quiet, once for
every notebook and for the grader: ``TF_CPP_MIN_LOG_LEVEL=3`` unless it is set already
(no ``cuInit`` error on a machine without a GPU, no oneDNN or CPU-feature lines), and the
lines TensorFlow's C++ side prints while it loads, before its log level applies (absl's
"All log messages before absl::InitializeLog()", ``cudart_stub`` "Could not find cuda
drivers"), are dropped; any other line printed then is kept. Set
``TF_CPP_MIN_LOG_LEVEL=0`` (or 1) to see TensorFlow's own log again: nothing is hidden
then. Imported after TensorFlow (``import keras`` first), it cannot hide TensorFlow's
loading lines, already printed, but it still takes the ``cuInit`` error out of the first
cell that builds a model. Importing ``cnn_course`` imports neither NumPy nor TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

__all__ = ["fast_mode", "grading_mode"]

# What TensorFlow prints on loading that no log level silences: one pattern per line.
TF_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\)"
    r"|cudart_stub\.cc|cuda_platform\.cc|cpu_feature_guard\.cc"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|oneDNN custom operations are on|Unable to register (cuDNN|cuFFT|cuBLAS) factory"
    r"|computation_placer\.cc|TF-TRT Warning"
)


def fast_mode() -> bool:
    """True when ``CNN_COURSE_FAST=1``: notebooks trim epochs and data (CI, grading)."""
    return os.environ.get("CNN_COURSE_FAST", "") == "1" or grading_mode()


def grading_mode() -> bool:
    """True while an autograder runs the notebook: demo cells keep to a minimum."""
    return (
        os.environ.get("CNN_COURSE_GRADING", "") == "1"
        or os.environ.get("NBGRADER_EXECUTION") == "autograde"
    )


@contextlib.contextmanager
def quiet_stderr(noise: re.Pattern = TF_NOISE):
    """Run the block with file descriptor 2 captured; then print back every line that is not
    ``noise``. C libraries write to the descriptor, not to ``sys.stderr``, so only this
    catches them (a Jupyter kernel forwards the descriptor into the notebook)."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines()
            kept = [line for line in lines if line.strip() and not noise.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


class _QuietLoader:
    """Wraps TensorFlow's loader: its module runs inside :func:`quiet_stderr`."""

    def __init__(self, loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        try:
            with quiet_stderr():
                self._loader.exec_module(module)
        finally:
            module.__loader__ = self._loader  # the real loader again, for resources and reloads
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader
        with contextlib.suppress(Exception):  # absl's Python log: warnings and above only
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)


class _QuietTensorFlow:
    """A one-shot import hook: the first ``import tensorflow`` gets a :class:`_QuietLoader`."""

    def find_spec(self, name: str, path=None, target=None):
        if name != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        from importlib.util import find_spec

        spec = find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def _quiet_tensorflow_start() -> None:
    """Set TensorFlow's C++ log level and hook its import; when TensorFlow is loaded already
    (a notebook that imports keras first), find its devices now, quietly: that is where a
    machine without a GPU logs the ``cuInit`` error, once, at the first model otherwise.
    ``TF_CPP_MIN_LOG_LEVEL`` 0 or 1, set by the user, means: hide nothing."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3") in ("0", "1"):
        return
    if "tensorflow" in sys.modules:  # too late for the log level: TensorFlow read it on loading
        if not grading_mode():
            with contextlib.suppress(Exception), quiet_stderr():
                sys.modules["tensorflow"].config.list_physical_devices()
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlow())


_quiet_tensorflow_start()
