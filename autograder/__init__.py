"""The course's grading engine: checks written once, run by nbgrader or sandboxed.

Importing the package is cheap and imports no NumPy: the command line sets
thread limits before NumPy loads. Names are loaded on first use. It imports
``cnn_course``, whose import hook keeps TensorFlow's start-up lines out of the
grader's progress bar.
"""

import cnn_course  # noqa: F401 - first, so that TensorFlow starts quietly in the grader too

__all__ = ["Assignment", "Case", "Check", "Result", "load_assignment", "run_in_kernel"]


def __getattr__(name: str):
    if name in __all__:
        from autograder import core

        return getattr(core, name)
    raise AttributeError(f"module 'autograder' has no attribute {name!r}")
