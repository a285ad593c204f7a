"""Helpers for the visible tests in assignments: messages that say what went wrong."""

from __future__ import annotations

import numpy as np

__all__ = ["assert_close", "rel_error"]


def rel_error(a, b) -> float:
    """Largest relative difference, as in CS231n: max |a - b| / max(1e-8, |a| + |b|)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))) if a.size else 0.0


def assert_close(got, want, what: str = "output", tol: float = 1e-5) -> None:
    """Fail with the shapes or the largest difference when ``got`` is not ``want``."""
    got_arr = np.asarray(got, dtype=np.float64)
    want_arr = np.asarray(want, dtype=np.float64)
    if got_arr.shape != want_arr.shape:
        raise AssertionError(f"{what}: shape {got_arr.shape}, expected {want_arr.shape}")
    diff = float(np.max(np.abs(got_arr - want_arr))) if got_arr.size else 0.0
    scale = max(1.0, float(np.max(np.abs(want_arr))) if want_arr.size else 1.0)
    if not diff <= tol * scale:
        raise AssertionError(
            f"{what}: largest difference {diff:.3g} exceeds the tolerance {tol * scale:.1g}"
        )
