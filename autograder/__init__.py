"""The course's grading engine: checks written once, run by nbgrader or sandboxed."""

from autograder.core import Assignment, Case, Check, Result, load_assignment, run_in_kernel

__all__ = ["Assignment", "Case", "Check", "Result", "load_assignment", "run_in_kernel"]
