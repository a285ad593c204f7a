"""Checks: written once as *observe* + *verify*, run by two harnesses.

``observe(namespace)`` runs the student's functions on the check's inputs and
returns plain data (dicts, lists, str, int, float, bool, None and numeric NumPy
arrays). ``verify(observations)`` compares that data with the reference and
returns a :class:`Result`. The fast harness runs *observe* in a sandboxed child
and *verify* in the parent; the nbgrader harness (:func:`run_in_kernel`) runs
both in the student's kernel after a round trip through the same encoding.
"""

from __future__ import annotations

import errno
import importlib
import inspect
import io
import json
import math
import warnings
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Plain data only: what may cross the process boundary.
Plain = Any


@dataclass(frozen=True)
class Case:
    """One call of a student function: arguments and a label safe to show students."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    label: str = ""
    raises: type[BaseException] | None = None  # the call must raise this


@dataclass
class Result:
    """What a check gives a submission: points out of ``max_points`` and why."""

    name: str
    points: float
    max_points: float
    message: str
    status: str = "passed"  # passed | failed | error

    @property
    def passed(self) -> bool:
        return self.points >= self.max_points


@dataclass(frozen=True)
class Timing:
    """A speed check timed by the grader, from outside the sandbox.

    The fast harness sends each round's arguments (``given["rounds"]``, made fresh
    by ``Check.fresh`` for this grading run) only when the child says it is
    ready, and times the answer from the grader's side: a patched clock,
    memoised answers or a slowed baseline in the child change nothing. The
    observation is ``{"seconds": [...], "outputs": [...]}``, one per round.
    """

    rounds: int = 3
    limit: float = 10.0  # seconds one round may take
    # How a round's return value becomes plain data (default: the check's ``returns``).
    convert: Callable[[Any], Plain] | None = None

    def call(self, fn: Callable, args: tuple, returns: str) -> Plain:
        """One round's call, as both harnesses make it: plain data, never raises."""
        if self.convert is None:
            return call_case(fn, Case(tuple(args)), returns)
        ok, out = call_quietly(fn, *args)
        return self.convert(out) if ok else {"error": out}


def time_rounds(fn: Callable, rounds: list, timing: Timing, returns: str) -> Plain:
    """nbgrader's harness (trusted work): the timed rounds in the kernel, timed there, in the
    shape the fast harness's grader-side timing gives: ``{"seconds": [...], "outputs": [...]}``."""
    import time

    seconds, outputs = [], []
    for args in rounds:
        t0 = time.perf_counter()
        outputs.append(timing.call(fn, tuple(args), returns))
        seconds.append(time.perf_counter() - t0)
    return {"seconds": seconds, "outputs": outputs}


@dataclass
class Check:
    """A graded behaviour of one student function.

    ``cases`` builds the inputs (deterministic, NumPy only, shared by both
    sides). ``compare(case, got)`` runs in the verifying process only and
    returns ``None`` when ``got`` is right, else a message naming the mistake.
    ``observe`` may be replaced for checks that measure something other than
    return values (timings, models, training); such a check may still name its
    ``cases``, so the warm grading process builds them once before forking.
    """

    name: str
    points: float
    function: str
    description: str
    cases: Callable[[], list[Case]] | None = None
    compare: Callable[[Case, Plain], str | None] | None = None
    custom_observe: Callable[..., Plain] | None = None
    custom_verify: Callable[..., tuple[bool, str]] | None = None
    returns: str = "array"  # array | int | tuple | shapes
    # Inputs made fresh for each grading run by the trusted side: ``fresh(rng)`` returns
    # ``(given, kept)``; ``given`` goes to ``custom_observe(namespace, given)``, ``kept``
    # (labels, expected outputs, baseline timings) only to ``custom_verify(observed, kept)``.
    fresh: Callable[[np.random.Generator], tuple[Plain, Plain]] | None = None
    timing: Timing | None = None

    def observe(self, namespace: dict, given: Plain = None) -> Plain:
        """Run the student's code; return plain data (never raises)."""
        fn = namespace.get(self.function)
        if fn is None:
            return {"missing": f"`{self.function}` is not defined in your notebook"}
        if not callable(fn):
            return {"missing": f"`{self.function}` is a {type(fn).__name__}, not a function"}
        if self.custom_observe is not None:
            try:
                if self.fresh is not None:
                    return self.custom_observe(namespace, given)
                return self.custom_observe(namespace)
            except BaseException as exc:  # noqa: BLE001 - student code may raise anything
                return {"missing": f"`{self.function}` raised {describe_exception(exc)}"}
        assert self.cases is not None
        return {"cases": [call_case(fn, case, self.returns) for case in self.cases()]}

    def verify(self, observed: Plain, kept: Plain = None) -> Result:
        """Score plain observations; runs in the process that decides points."""
        try:
            ok, message = self._verify(observed, kept)
        except Exception as exc:  # malformed (forged) observations
            ok, message = (
                False,
                f"the grader could not read the results of `{self.function}` ({type(exc).__name__})",
            )
        points = self.points if ok else 0.0
        return Result(self.name, points, self.points, message, "passed" if ok else "failed")

    def _verify(self, observed: Plain, kept: Plain) -> tuple[bool, str]:
        if not isinstance(observed, dict):
            raise TypeError("observation is not a dict")
        if "missing" in observed:
            return False, str(observed["missing"])
        if self.custom_verify is not None:
            if self.fresh is not None:
                return self.custom_verify(observed, kept)
            return self.custom_verify(observed)
        cases = self.cases() if self.cases else []
        got_all = observed["cases"]
        if not isinstance(got_all, list) or len(got_all) != len(cases):
            raise ValueError("wrong number of cases")
        for i, (case, got) in enumerate(zip(cases, got_all, strict=True), start=1):
            where = f"case {i} of {len(cases)} ({case.label})" if case.label else f"case {i}"
            problem = _check_case(case, got, self.compare)
            if problem:
                return False, f"`{self.function}` failed on {where}: {problem}"
        return True, f"`{self.function}`: all {len(cases)} cases correct"


def _check_case(case: Case, got: Plain, compare) -> str | None:
    if not isinstance(got, dict):
        raise TypeError("case observation is not a dict")
    if case.raises is not None:
        if got.get("error") is None:
            return (
                f"expected a {case.raises.__name__} for these arguments, but it returned normally"
            )
        if case.raises.__name__ not in got.get("mro", []):
            return f"expected a {case.raises.__name__}, got {got['error']}"
        return None
    if got.get("error") is not None:
        return f"raised {got['error']}"
    if "bad_type" in got:
        return got["bad_type"]
    return compare(case, got)


# --- observing -------------------------------------------------------------------------


def describe_exception(exc: BaseException) -> str:
    """One line for a student: type and message, with a hint for common cases."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, NotImplementedError):
        return "NotImplementedError: not implemented yet (replace `raise NotImplementedError()` with your code)"
    if isinstance(exc, MemoryError):
        return (
            "MemoryError: ran out of memory (over the memory limit): avoid huge intermediate arrays"
        )
    if isinstance(exc, RecursionError):
        return "RecursionError: maximum recursion depth exceeded"
    if isinstance(exc, BlockingIOError) and exc.errno == errno.EAGAIN:
        return (
            f"{name}: could not start a process or thread: the notebook started too many "
            "processes (the grader's sandbox limits them)"
        )
    text = text[:300]
    return f"{name}: {text}" if text else name


def _call(fn: Callable, args: tuple, kwargs: dict) -> tuple[Any, BaseException | None]:
    """``fn`` on copies of the array arguments, its output and warnings swallowed:
    ``(out, None)``, or ``(None, exc)`` for anything it raised (SystemExit included)."""
    args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    try:
        with (
            warnings.catch_warnings(),
            redirect_stdout(io.StringIO()),
            redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs), None
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything
        return None, exc


def call_quietly(fn: Callable, *args) -> tuple[bool, Any]:
    """``(True, out)`` or ``(False, message)``: the student's function on copies of the
    arguments, its output and warnings swallowed, never raises."""
    out, exc = _call(fn, args, {})
    return (True, out) if exc is None else (False, describe_exception(exc))


def call_case(fn: Callable, case: Case, returns: str) -> Plain:
    """Call ``fn`` on a copy of the case's inputs; return plain data, never raise."""
    out, exc = _call(fn, case.args, case.kwargs)
    if exc is not None:
        msg = describe_exception(exc)
        if isinstance(exc, TypeError) and ("argument" in msg or "positional" in msg):
            msg += f" (check the signature: {_signature(fn)})"
        return {"error": msg, "mro": [k.__name__ for k in type(exc).__mro__]}
    return to_plain_output(out, returns)


def _signature(fn: Callable) -> str:
    try:
        return f"{getattr(fn, '__name__', 'function')}{inspect.signature(fn)}"
    except (TypeError, ValueError):
        return "unknown"


def to_plain_output(out: Any, returns: str) -> Plain:
    """Turn a student's return value into plain data, or a ``bad_type`` message."""
    if returns == "int":
        if isinstance(out, bool) or not isinstance(out, (int, np.integer)):
            if isinstance(out, (float, np.floating)):
                return {
                    "bad_type": f"returned the float {float(out)!r}; return an int (use // for floor division)"
                }
            return {"bad_type": f"returned a {type(out).__name__}; return an int"}
        return {"value": int(out)}
    if returns == "shapes":
        return _plain_shapes(out)
    if returns == "tuple":
        if not isinstance(out, tuple):
            return {"bad_type": f"returned a {type(out).__name__}; return a tuple"}
        return {"value": [to_plain_output(o, "int") for o in out]}
    # arrays: any array-like of real numbers is accepted, float32 or float64
    if isinstance(out, np.ndarray):
        arr = np.array(out.view(np.ndarray), copy=True)  # a subclass keeps only its data
    elif isinstance(out, (list, tuple, int, float, np.number)) and not isinstance(out, bool):
        try:
            arr = np.array(out, dtype=np.float64)
        except Exception:  # noqa: BLE001
            return {"bad_type": "returned something NumPy cannot turn into an array of numbers"}
    else:
        return {"bad_type": f"returned a {type(out).__name__}; return a NumPy array"}
    if arr.dtype.kind not in "biuf":
        return {"bad_type": f"returned an array of dtype {arr.dtype}; return real numbers"}
    return {"value": arr.astype(np.float64), "dtype": str(arr.dtype)}


def _plain_shapes(out: Any) -> Plain:
    """A list of shape tuples (ints, ``None`` for an unknown axis) as plain lists."""
    if not isinstance(out, (list, tuple)):
        return {"bad_type": f"returned a {type(out).__name__}; return a list of shape tuples"}
    shapes = []
    for i, shape in enumerate(out):
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            return {
                "bad_type": f"item {i} is the int {int(shape)}; each item must be a tuple, e.g. (120,) not 120"
            }
        try:
            dims = list(shape)
        except TypeError:
            return {"bad_type": f"item {i} is a {type(shape).__name__}; each item must be a tuple"}
        for v in dims:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))):
                return {"bad_type": f"item {i} holds {v!r}; shapes hold ints"}
        shapes.append([None if v is None else int(v) for v in dims])
    return {"value": shapes}


# --- comparing -------------------------------------------------------------------------


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and max_abs_diff(a, b) <= tol


def compare_array(
    got: np.ndarray,
    expected: np.ndarray,
    mistakes: Sequence[tuple[str, Callable[[], np.ndarray]]] = (),
    rtol: float = 1e-4,
) -> str | None:
    """``None`` when ``got`` matches ``expected``; else what differs and, when the
    output equals a known wrong variant, which mistake that is."""
    expected = np.asarray(expected, dtype=np.float64)
    tol = rtol * max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    if close(got, expected, tol):
        return None
    for explanation, variant in mistakes:
        try:
            wrong = np.asarray(variant(), dtype=np.float64)
        except Exception:  # noqa: BLE001 - a variant that does not apply
            continue
        if close(got, wrong, tol):
            return explanation
    if got.shape != expected.shape:
        return f"output shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    if not np.all(np.isfinite(got)):
        return "output contains NaN or infinity"
    return f"largest difference {max_abs_diff(got, expected):.3g} exceeds the tolerance {tol:.1g}"


def shape_hint(got_shape: tuple, expected_shape: tuple) -> str | None:
    """Name an off-by-one in the spatial size (axes 1 and 2 for NHWC, 0 and 1 for 2-D)."""
    if len(got_shape) != len(expected_shape):
        return None
    diffs = [g - e for g, e in zip(got_shape, expected_shape, strict=True)]
    if any(d == -1 for d in diffs) and all(d in (0, -1) for d in diffs):
        return f"output shape {tuple(got_shape)} is one row/column short of {tuple(expected_shape)}: did you forget the + 1?"
    if any(d == 1 for d in diffs) and all(d in (0, 1) for d in diffs):
        return f"output shape {tuple(got_shape)} is one row/column too large (expected {tuple(expected_shape)}): check the + 1 and the floor"
    return None


# --- encoding (the only format that crosses the process boundary) ----------------------


def encode(tree: Plain) -> tuple[str, dict[str, np.ndarray]]:
    """Plain tree -> (JSON text, arrays for an ``.npz``). Rejects anything else."""
    arrays: dict[str, np.ndarray] = {}

    def walk(node: Plain) -> Plain:
        if node is None or isinstance(node, (bool, str)):
            return node
        if isinstance(node, (int, np.integer)):
            return int(node)
        if isinstance(node, (float, np.floating)):
            value = float(node)
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(node, np.ndarray):
            if node.dtype.kind not in "biuf":
                raise TypeError(f"array of dtype {node.dtype} cannot be encoded")
            key = f"a{len(arrays)}"
            arrays[key] = np.ascontiguousarray(node)
            return {"__array__": key}
        if isinstance(node, dict):
            return {str(k): walk(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(v) for v in node]
        raise TypeError(f"{type(node).__name__} is not plain data")

    return json.dumps(walk(tree)), arrays


def decode(text: str, arrays: dict[str, np.ndarray]) -> Plain:
    """Inverse of :func:`encode`."""

    def walk(node: Plain) -> Plain:
        if isinstance(node, dict):
            if set(node) == {"__array__"}:
                arr = arrays[node["__array__"]]
                if arr.dtype.kind not in "biuf":
                    raise TypeError("non-numeric array")
                return np.asarray(arr)
            if set(node) == {"__float__"}:
                return float(node["__float__"])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(json.loads(text))


# --- assignments -------------------------------------------------------------------------


@dataclass
class Assignment:
    """The checks of one assignment and what its sandbox needs."""

    aid: str
    checks: list[Check]
    preload: tuple[str, ...] = ()  # modules the warm parent imports before forking
    address_space_limit: bool = True  # RLIMIT_AS is fine for NumPy-only code
    warmup: Callable[[], None] | None = None  # run once in the warm parent (lazy imports, caches)
    default_timeout: float = 120.0

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"{self.aid} has no check {name!r}")

    @property
    def max_score(self) -> float:
        return float(sum(c.points for c in self.checks))


def load_assignment(aid: str) -> Assignment:
    """Import ``autograder.checks.<aid>`` and return its ``ASSIGNMENT``."""
    if not aid.isidentifier():
        raise ValueError(f"not an assignment id: {aid!r}")
    try:
        module = importlib.import_module(f"autograder.checks.{aid}")
    except ModuleNotFoundError as exc:
        raise ValueError(f"unknown assignment {aid!r} (no autograder/checks/{aid}.py)") from exc
    return module.ASSIGNMENT


def run_in_kernel(aid: str, name: str, namespace: dict) -> None:
    """nbgrader harness: observe and verify in the student's kernel.

    Raises ``AssertionError`` with the feedback line when the check fails, which
    is how nbgrader learns that the cell earns no points. Stdout, stderr and
    warnings from the student's code are swallowed: noise never costs points.
    """
    check = load_assignment(aid).check(name)
    given = kept = None
    if check.fresh is not None:
        given, kept = check.fresh(np.random.default_rng())
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        observed = check.observe(namespace, given)
        text, arrays = encode(observed)
        result = check.verify(decode(text, arrays), kept)
    if not result.passed:
        raise AssertionError(result.message)
