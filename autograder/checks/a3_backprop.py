"""Hidden checks of a3_backprop: backward passes and training rules in NumPy, matched to Keras.

Inputs are built here (NumPy only) and shared by both sides; expected outputs and the known
wrong variants come from :mod:`autograder.reference.backprop`, imported only where points are
decided. Functions returning several arrays are observed as lists of plain arrays; rules that
chain (optimiser steps, batch-norm statistics) are observed over several consecutive calls,
each fed what the student's previous call returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from autograder.core import (
    Assignment,
    Check,
    Timing,
    call_quietly,
    compare_array,
    describe_exception,
    time_rounds,
    to_plain_output,
)

AID = "a3_backprop"

# train_numpy_cnn is graded on a split of the 8x8 digits drawn fresh for each grading run.
EPOCHS = 10  # train_numpy_cnn(x_train, y_train, EPOCHS, seed)
N_TRAIN, N_TEST = 1000, 500
THRESHOLD = 0.85  # held-out accuracy to reach (the reference design: about 0.95 in 1 s)
TIME_BUDGET = 20.0  # seconds per call, timed by the grader (train and predict) on 2 cores
PARAM_BUDGET = 20_000  # numbers in all the arrays of the returned params
DROPOUT_SIGMAS = 5.0  # dropout's drop fraction within 5 binomial standard deviations of rate


def _ref():
    from autograder.reference import backprop

    return backprop


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(20261201 + seed)


def _shape(a) -> str:
    return f"{tuple(a.shape)} {a.dtype}"


# --- observing several outputs ------------------------------------------------------------


def _outputs(out, names: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    """A tuple of arrays as ``{"value": [...]}`` (``None`` allowed for ``optional`` names)."""
    what = f"the tuple ({', '.join(names)})"
    if not isinstance(out, (tuple, list)) or len(out) != len(names):
        got = f"a {type(out).__name__}"
        if isinstance(out, (tuple, list)):
            got += f" of {len(out)} items"
        return {"bad_type": f"returned {got}; return {what}"}
    value = []
    for name, item in zip(names, out, strict=True):
        if item is None and name in optional:
            value.append(None)
            continue
        plain = to_plain_output(item, "array")
        if "bad_type" in plain:
            return {"bad_type": f"{name}: {plain['bad_type']}"}
        value.append(plain["value"])
    return {"value": value}


def _call(fn, args: tuple, kwargs: dict | None = None, names=("value",), optional=()) -> dict:
    """One call of a student function on copies of the arrays, as plain data."""
    ok, out = call_quietly(lambda *a: fn(*a, **(kwargs or {})), *args)
    if not ok:
        return {"error": out}
    if names == ("value",):
        return to_plain_output(out, "array")
    return _outputs(out, names, optional)


def _problem(got) -> str | None:
    if not isinstance(got, dict):
        raise TypeError("observation is not a dict")
    if got.get("error") is not None:
        return f"raised {got['error']}"
    if "bad_type" in got:
        return str(got["bad_type"])
    return None


@dataclass(frozen=True)
class Item:
    """One graded call (or chain of calls): what to call it with and a label for the student."""

    args: tuple
    kwargs: dict
    label: str


def _observe_items(function: str, items, names, optional=()):
    def observe(ns: dict):
        fn = ns[function]
        return {"cases": [_call(fn, it.args, it.kwargs, names, optional) for it in items()]}

    return observe


def _verify_items(function: str, items, compare):
    """``compare(item, value) -> problem or None`` on each item, in order."""

    def verify(obs) -> tuple[bool, str]:
        cases = items()
        got_all = obs["cases"]
        if not isinstance(got_all, list) or len(got_all) != len(cases):
            raise ValueError("wrong number of cases")
        for i, (item, got) in enumerate(zip(cases, got_all, strict=True), start=1):
            problem = _problem(got) or compare(item, got["value"])
            if problem:
                return (
                    False,
                    f"`{function}` failed on case {i} of {len(cases)} ({item.label}): {problem}",
                )
        return True, f"`{function}`: all {len(cases)} cases correct"

    return verify


def _arr(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)


def _compare_named(got: list, want: list, names: tuple[str, ...], mistakes=(), rtol=1e-4):
    """Compare each output; name a mistake when every output equals its wrong variant."""
    problems = []
    for name, g, w in zip(names, got, want, strict=True):
        if g is None:
            problems.append(f"{name} is None")
            continue
        p = compare_array(_arr(g), w, rtol=rtol)
        if p:
            problems.append(f"{name}: {p}")
    if not problems:
        return None
    for explanation, variant in mistakes:
        try:
            wrong = variant()
        except Exception:  # noqa: BLE001 - a variant that does not apply
            continue
        if all(
            g is not None and compare_array(_arr(g), _arr(v), rtol=rtol) is None
            for g, v in zip(got, wrong, strict=True)
        ):
            return explanation
    return problems[0]


# --- numerical_gradient -------------------------------------------------------------------

NUMGRAD_FUNCTIONS = {
    "sum(x**2)": (lambda a: float(np.sum(a**2)), lambda a: 2 * a),
    "sum(x**3)": (lambda a: float(np.sum(a**3)), lambda a: 3 * a**2),
    "sum(sin(x) * c)": (
        lambda a: float(np.sum(np.sin(a) * np.arange(1, a.size + 1).reshape(a.shape))),
        lambda a: np.cos(a) * np.arange(1, a.size + 1).reshape(a.shape),
    ),
    "x[0] * x[1]**2 * exp(x[2])": (
        lambda a: float(a[0] * a[1] ** 2 * np.exp(a[2])),
        lambda a: np.array(
            [
                a[1] ** 2 * np.exp(a[2]),
                2 * a[0] * a[1] * np.exp(a[2]),
                a[0] * a[1] ** 2 * np.exp(a[2]),
            ]
        ),
    ),
}


@cache
def _numgrad_items() -> list[Item]:
    rng = _rng(1)
    return [
        Item((rng.normal(size=(3, 4)),), {}, "f = sum(x**2), x (3, 4)"),
        Item((rng.normal(size=(2, 3, 2)),), {}, "f = sum(x**3), x (2, 3, 2)"),
        Item((rng.normal(size=(5,)),), {"h": 1e-4}, "f = sum(sin(x) * c), x (5,), h=1e-4"),
        Item((rng.normal(size=(3,)),), {}, "f = x[0] * x[1]**2 * exp(x[2]), x (3,)"),
    ]


def _numgrad_name(item: Item) -> str:
    return item.label.split(",")[0].removeprefix("f = ")


def _observe_numgrad(ns: dict):
    fn = ns["numerical_gradient"]
    cases = []
    for item in _numgrad_items():
        f = NUMGRAD_FUNCTIONS[_numgrad_name(item)][0]
        x = item.args[0].copy()
        ok, out = call_quietly(lambda x=x, f=f, item=item: fn(f, x, **item.kwargs))
        if not ok:
            cases.append({"error": out})
            continue
        got = to_plain_output(out, "array")
        got["x_after"] = x
        cases.append(got)
    return {"cases": cases}


def _compare_numgrad(item: Item, value) -> str | None:
    x = item.args[0]
    f, grad = NUMGRAD_FUNCTIONS[_numgrad_name(item)]
    want = grad(x)
    got = _arr(value)
    h = item.kwargs.get("h", 1e-5)
    xs = x.copy()
    forward = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xs[i] += h
        forward[i] = (f(xs) - f(x)) / h
        xs[i] = x[i]
    mistakes = [
        ("one-sided difference (f(x + h) - f(x)) / h: use central differences", lambda: forward)
    ]
    return compare_array(got, want, mistakes, rtol=1e-6)


def _verify_numgrad(obs) -> tuple[bool, str]:
    items = _numgrad_items()
    for i, (item, got) in enumerate(zip(items, obs["cases"], strict=True), start=1):
        if "x_after" in got and not np.array_equal(_arr(got["x_after"]), item.args[0]):
            return False, (
                f"`numerical_gradient` failed on case {i} of {len(items)} ({item.label}): "
                "x is changed after the call: restore each entry after evaluating f"
            )
    return _verify_items("numerical_gradient", _numgrad_items, _compare_numgrad)(obs)


# --- conv2d_backward ----------------------------------------------------------------------

CONV_NAMES = ("dx", "dw", "db")


def _out_size(n: int, f: int, padding=0, stride: int = 1) -> int:
    """Output length along one axis (TensorFlow's rule for "same"): cases are built without
    the reference, which the sandboxed child cannot import."""
    if padding == "same":
        return -(-n // stride)
    p = 0 if padding == "valid" else int(padding)
    return (n + 2 * p - f) // stride + 1


def _conv_item(rng, batch, h, w, c_in, c_out, fh, fw, dtype=np.float64, **kw) -> Item:
    x = rng.normal(size=(batch, h, w, c_in)).astype(dtype)
    k = rng.normal(size=(fh, fw, c_in, c_out)).astype(dtype)
    stride, padding = kw.get("stride", 1), kw.get("padding", 0)
    out_shape = (batch, _out_size(h, fh, padding, stride), _out_size(w, fw, padding, stride), c_out)
    dout = rng.normal(size=out_shape).astype(dtype)
    parts = [f"x {_shape(x)}", f"w {_shape(k)}", *(f"{a}={v!r}" for a, v in kw.items())]
    return Item((dout, x, k), kw, ", ".join(parts))


@cache
def _conv_basic_items() -> list[Item]:
    rng = _rng(2)
    return [
        _conv_item(rng, 1, 3, 3, 1, 1, 2, 2),
        _conv_item(rng, 2, 5, 6, 3, 4, 3, 3),
        _conv_item(rng, 3, 6, 5, 2, 3, 2, 3, np.float32),
        _conv_item(rng, 1, 7, 4, 4, 2, 3, 1),
        _conv_item(rng, 2, 4, 4, 2, 2, 1, 1),
    ]


@cache
def _conv_options_items() -> list[Item]:
    rng = _rng(3)
    return [
        _conv_item(rng, 2, 7, 7, 2, 3, 3, 3, stride=2),
        _conv_item(rng, 1, 6, 5, 3, 2, 3, 3, padding=1),
        _conv_item(rng, 2, 8, 6, 2, 3, 3, 3, stride=2, padding="same"),
        _conv_item(rng, 1, 6, 8, 2, 2, 4, 2, padding="same"),
        _conv_item(rng, 2, 9, 7, 3, 2, 3, 3, stride=3, padding="valid"),
        _conv_item(rng, 1, 10, 8, 2, 4, 5, 3, stride=2, padding=2, dtype=np.float32),
        _conv_item(rng, 2, 8, 8, 3, 2, 2, 2, stride=2, padding="same"),
    ]


def _compare_conv(item: Item, value) -> str | None:
    ref = _ref()
    dout, x, w = item.args
    kw = item.kwargs
    want = ref.conv2d_backward(dout, x, w, **kw)
    dx, dw, db = (None if v is None else _arr(v) for v in value)
    if dx is not None and dx.shape != want[0].shape and dx.shape[1:3] > want[0].shape[1:3]:
        padded = ref.conv2d_backward(dout, x, w, crop=False, **kw)[0]
        if dx.shape == padded.shape:
            return (
                f"dx has the padded shape {dx.shape}, expected x's {want[0].shape}: "
                "crop the padding off the gradient of the padded input"
            )
    if db is not None and db.shape != want[2].shape:
        return (
            f"db has shape {db.shape}, expected {want[2].shape}: db is summed over the batch and "
            "every output position (axes 0, 1, 2 of dout)"
        )
    n = x.shape[0]
    positions = dout.shape[1] * dout.shape[2]
    mistakes = [
        (
            "dx was computed with the kernel unflipped: dx is the full convolution of dout with "
            "the kernel flipped in H and W (or, equivalently, scatter dout back through w as it is)",
            lambda: ref.conv2d_backward(dout, x, w, flip=False, **kw),
        ),
        (
            "db is the mean of dout, not its sum over the batch and positions",
            lambda: (want[0], want[1], want[2] / (n * positions)),
        ),
        (
            "db is averaged over the batch: sum it over the batch and every position",
            lambda: (want[0], want[1], want[2] / n),
        ),
        (
            "dx and dw are right but db is not: db sums dout over the batch and every position",
            lambda: (want[0], want[1], dout.sum(axis=(1, 2))[0]),
        ),
    ]
    return _compare_named(list(value), list(want), CONV_NAMES, mistakes)


# --- pool2d_backward ----------------------------------------------------------------------


@cache
def _pool_items() -> list[Item]:
    rng = _rng(4)
    items = []
    four = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float64)
    four = four[None, :, :, None] + np.arange(16).reshape(1, 4, 4, 1) * 1e-3  # no ties
    for x, kw in [
        (four, {}),
        (four, {"mode": "avg"}),
        (rng.permutation(2 * 6 * 8 * 3).reshape(2, 6, 8, 3) / 10.0, {"pool_size": 2}),
        (rng.permutation(7 * 9 * 2).reshape(1, 7, 9, 2) / 7.0, {"pool_size": 3, "stride": 2}),
        (rng.permutation(2 * 5 * 5).reshape(2, 5, 5, 1) / 3.0, {"pool_size": 2, "stride": 1}),
        (rng.normal(size=(1, 9, 6, 4)).astype(np.float32), {"pool_size": 3, "mode": "avg"}),
        (rng.normal(size=(2, 7, 7, 2)), {"pool_size": 3, "stride": 2, "mode": "avg"}),
        (
            rng.permutation(3 * 7 * 7 * 2).reshape(3, 7, 7, 2) * 1.0,
            {"pool_size": 2, "stride": 2, "mode": "max"},
        ),
    ]:
        size, stride = kw.get("pool_size", 2), kw.get("stride")
        s = size if stride is None else stride
        out_shape = (
            x.shape[0],
            _out_size(x.shape[1], size, 0, s),
            _out_size(x.shape[2], size, 0, s),
            x.shape[3],
        )
        dout = rng.normal(size=out_shape).astype(x.dtype)
        label = ", ".join([f"x {_shape(x)}", *(f"{a}={v!r}" for a, v in kw.items())])
        items.append(Item((dout, x), kw, label))
    return items


def _compare_pool(item: Item, value) -> str | None:
    ref = _ref()
    dout, x = item.args
    size = item.kwargs.get("pool_size", 2)
    stride, mode = item.kwargs.get("stride"), item.kwargs.get("mode", "max")
    want = ref.pool2d_backward(dout, x, size, stride, mode)
    mistakes = [
        (
            "the max gradient went to every element of the window: only the maximum of each "
            "window receives it (the others did not change the output)",
            lambda: ref.pool2d_backward(dout, x, size, stride, mode, spread=True),
        ),
        (
            f"average pooling's gradient is not divided: each of the {size}x{size} inputs of a "
            f"window gets dout / {size * size}",
            lambda: ref.pool2d_backward(dout, x, size, stride, mode, divide=False),
        ),
        (
            "overlapping windows must add their gradients: use += where windows overlap",
            lambda: _pool_last_wins(dout, x, size, stride, mode),
        ),
    ]
    return compare_array(_arr(value), want, mistakes)


def _pool_last_wins(dout, x, size, stride, mode):
    ref = _ref()
    stride = size if stride is None else stride
    if stride >= size:
        raise ValueError("no overlap")
    dx = np.zeros(x.shape)
    for i in range(dout.shape[1]):
        for j in range(dout.shape[2]):
            one = np.zeros_like(dout)
            one[:, i, j] = dout[:, i, j]
            part = ref.pool2d_backward(one, x, size, stride, mode)
            rows, cols = slice(i * stride, i * stride + size), slice(j * stride, j * stride + size)
            dx[:, rows, cols] = part[:, rows, cols]
    return dx


# --- batch normalization ------------------------------------------------------------------

BN_NAMES = ("y", "moving_mean", "moving_var")


@cache
def _bn_items() -> list[Item]:
    """Chains: training steps on the given batches, then one inference step."""
    rng = _rng(5)
    items = []
    for shape, kw, dtype in [
        ((8, 4, 4, 3), {}, np.float64),
        ((6, 5), {"momentum": 0.9, "epsilon": 1e-5}, np.float64),
        ((2, 2, 2, 2), {"momentum": 0.8}, np.float64),
        ((4, 3, 3, 4), {"momentum": 0.95}, np.float32),
        ((1, 1, 1, 3), {}, np.float64),
    ]:
        c = shape[-1]
        gamma = rng.normal(size=c).astype(dtype)
        beta = rng.normal(size=c).astype(dtype)
        mm = rng.normal(size=c).astype(dtype)
        mv = (rng.random(size=c) + 0.5).astype(dtype)
        batches = [rng.normal(loc=k, scale=1 + k, size=shape).astype(dtype) for k in range(4)]
        label = f"x {shape} {np.dtype(dtype)}, 3 training steps then inference" + "".join(
            f", {a}={v!r}" for a, v in kw.items()
        )
        items.append(Item((gamma, beta, mm, mv, tuple(batches)), kw, label))
    return items


def _bn_chain_ref(item: Item, **flags) -> list[tuple]:
    ref = _ref()
    gamma, beta, mm, mv, batches = item.args
    steps = []
    for k, x in enumerate(batches):
        y, mm, mv = ref.batchnorm_forward(x, gamma, beta, mm, mv, k < 3, **item.kwargs, **flags)
        steps.append((y, mm, mv))
    return steps


def _observe_bn(ns: dict):
    fn = ns["batchnorm_forward"]
    cases = []
    for item in _bn_items():
        gamma, beta, mm, mv, batches = item.args
        steps = []
        for k, x in enumerate(batches):
            got = _call(fn, (x, gamma, beta, mm, mv, k < 3), item.kwargs, BN_NAMES)
            steps.append(got)
            if _problem(got):
                break
            _, mm, mv = got["value"]
        cases.append({"steps": steps})
    return {"cases": cases}


def _verify_bn(obs) -> tuple[bool, str]:
    items = _bn_items()
    if len(obs["cases"]) != len(items):
        raise ValueError("wrong number of cases")
    for i, (item, got) in enumerate(zip(items, obs["cases"], strict=True), start=1):
        where = f"`batchnorm_forward` failed on case {i} of {len(items)} ({item.label})"
        want = _bn_chain_ref(item)
        steps = got["steps"]
        for k, step in enumerate(steps):
            problem = _problem(step)
            if problem:
                return False, f"{where}, step {k + 1}: {problem}"
        if item.args[4][0].shape[:-1] == (1, 1, 1) and any(
            not np.all(np.isfinite(_arr(step["value"][0]))) for step in steps
        ):
            return False, (
                f"{where}: NaN or inf with one value per channel: use the biased variance "
                "(divide by m, not m - 1), and add epsilon under the square root"
            )
        mistakes = [
            (
                "the variance is unbiased (divided by m - 1): Keras uses the biased batch variance (divide by m)",
                {"unbiased": True},
            ),
            (
                "the momentum is the wrong way round: moving = momentum * moving + (1 - momentum) * batch "
                "(momentum 0.99 keeps 99% of the old value)",
                {"swap_momentum": True},
            ),
            (
                "the moving statistics changed at inference (training=False): only training steps update them",
                {"update_at_inference": True},
            ),
        ]
        first = None
        for k, (step, ref_step) in enumerate(zip(steps, want, strict=True)):
            problem = _compare_named(step["value"], list(ref_step), BN_NAMES)
            if problem:
                mode = "training" if k < 3 else "inference"
                first = f"step {k + 1} ({mode}): {problem}"
                break
        if first is None:
            continue
        for explanation, flags in mistakes:
            wrong = _bn_chain_ref(item, **flags)
            if all(
                _compare_named(step["value"], list(w), BN_NAMES) is None
                for step, w in zip(steps, wrong, strict=True)
            ):
                return False, f"{where}: {explanation}"
        return False, f"{where}, {first}"
    return True, f"`batchnorm_forward`: all {len(items)} chains of steps correct"


@cache
def _bn_back_items() -> list[Item]:
    rng = _rng(6)
    items = []
    for shape, kw, dtype in [
        ((6, 4), {}, np.float64),
        ((3, 4, 5, 2), {}, np.float64),
        ((2, 3, 3, 3), {"epsilon": 1e-5}, np.float64),
        ((4, 2, 2, 5), {}, np.float32),
        ((2, 1, 1, 3), {"epsilon": 0.1}, np.float64),
    ]:
        c = shape[-1]
        x = rng.normal(loc=1.0, scale=2.0, size=shape).astype(dtype)
        gamma = rng.normal(size=c).astype(dtype)
        dy = rng.normal(size=shape).astype(dtype)
        label = f"x {shape} {np.dtype(dtype)}" + "".join(f", {a}={v!r}" for a, v in kw.items())
        items.append(Item((dy, x, gamma), kw, label))
    return items


def _compare_bn_back(item: Item, value) -> str | None:
    ref = _ref()
    dy, x, gamma = item.args
    want = ref.batchnorm_backward(dy, x, gamma, **item.kwargs)
    mistakes = [
        (
            "dx misses the terms through the batch mean and variance: both depend on every x "
            "(dx = gamma / sqrt(var + eps) / m * (m dy - sum(dy) - xhat * sum(dy * xhat)))",
            lambda: ref.batchnorm_backward(dy, x, gamma, mean_terms=False, **item.kwargs),
        ),
    ]
    for name, g, w in zip(("dgamma", "dbeta"), value[1:], want[1:], strict=True):
        if g is not None and _arr(g).shape != w.shape:
            return f"{name} has shape {_arr(g).shape}, expected {w.shape}: sum over every axis but the last"
    return _compare_named(list(value), list(want), ("dx", "dgamma", "dbeta"), mistakes)


# --- dropout ------------------------------------------------------------------------------

DROPOUT_SHAPE = (100, 10, 20)  # 20,000 values: the drop fraction's sd is below 0.0035


@cache
def _dropout_items() -> list[Item]:
    rng = _rng(7)
    x = rng.normal(size=DROPOUT_SHAPE) + 3.0  # never zero
    return [
        Item((x, 0.3), {"seed": 11}, "x (100, 10, 20), rate=0.3"),
        Item((x.astype(np.float32), 0.75), {"seed": 12}, "x (100, 10, 20) float32, rate=0.75"),
        Item((x, 0.1), {"seed": 13}, "x (100, 10, 20), rate=0.1"),
    ]


def _observe_dropout(ns: dict):
    fn = ns["dropout_forward"]
    cases = []
    for item in _dropout_items():
        x, rate = item.args
        seed = item.kwargs["seed"]
        runs = []
        for training, s in ((True, seed), (True, seed), (True, seed + 1000), (False, seed)):
            got = _call(
                fn, (x, rate, training, np.random.default_rng(s)), {}, ("y", "mask"), ("mask",)
            )
            runs.append(got)
            if _problem(got):
                break
        cases.append({"runs": runs})
    return {"cases": cases}


def _verify_dropout(obs) -> tuple[bool, str]:
    items = _dropout_items()
    if len(obs["cases"]) != len(items):
        raise ValueError("wrong number of cases")
    for i, (item, got) in enumerate(zip(items, obs["cases"], strict=True), start=1):
        x, rate = item.args
        where = f"`dropout_forward` failed on case {i} of {len(items)} ({item.label})"
        runs = got["runs"]
        for run in runs:
            if _problem(run):
                return False, f"{where}: {_problem(run)}"
        (y, mask), (y_again, _), (y_other, _), (y_test, _) = (r["value"] for r in runs)
        y, y_test = _arr(y), _arr(y_test)
        x64 = _arr(x)
        if y_test.shape != x.shape or compare_array(y_test, x64) is not None:
            return False, f"{where}: at inference (training=False) dropout must return x unchanged"
        if y.shape != x.shape:
            return False, f"{where}: y has shape {y.shape}, expected x's {x.shape}"
        kept = y != 0
        dropped = 1.0 - kept.mean()
        sd = np.sqrt(rate * (1 - rate) / x.size)
        if (
            abs(dropped - (1 - rate)) <= DROPOUT_SIGMAS * sd
            and abs(dropped - rate) > DROPOUT_SIGMAS * sd
        ):
            return False, (
                f"{where}: {dropped:.1%} of the values were dropped, about 1 - rate: rate is the "
                "probability to DROP a value (Keras's Dropout(rate)), not to keep it"
            )
        if abs(dropped - rate) > DROPOUT_SIGMAS * sd:
            return False, (
                f"{where}: {dropped:.1%} of the values were dropped; with rate={rate} expected "
                f"{rate:.0%} within {DROPOUT_SIGMAS:g} binomial standard deviations ({DROPOUT_SIGMAS * sd:.2%})"
            )
        if compare_array(y[kept], x64[kept]) is None:
            return False, (
                f"{where}: the kept values are not rescaled: inverted dropout divides them by "
                "1 - rate, so that the mean is unchanged in expectation"
            )
        if compare_array(y[kept], x64[kept] / (1 - rate)) is not None:
            return False, f"{where}: the kept values should be x / (1 - rate)"
        if mask is not None:
            m = _arr(mask)
            if m.shape != x.shape or not np.array_equal(m != 0, kept):
                return (
                    False,
                    f"{where}: the returned mask is not the one applied to x (1 where kept, 0 where dropped)",
                )
        if not np.array_equal(_arr(y_again), y):
            return False, (
                f"{where}: two calls with the same rng seed dropped different values: draw the mask "
                "from the rng you are given (rng.random(x.shape)), not from np.random"
            )
        if np.array_equal(_arr(y_other), y):
            return (
                False,
                f"{where}: a different rng gave the same mask: draw the mask from the rng you are given",
            )
    return (
        True,
        f"`dropout_forward`: rate, scaling, rng and inference right on all {len(items)} cases",
    )


@cache
def _dropout_back_items() -> list[Item]:
    rng = _rng(8)
    items = []
    for shape, rate, as_bool, dtype in [
        ((4, 5), 0.5, True, np.float64),
        ((2, 3, 3, 4), 0.3, False, np.float64),
        ((8, 6), 0.8, True, np.float32),
    ]:
        dy = rng.normal(size=shape).astype(dtype)
        mask = rng.random(shape) >= rate
        mask_arg = mask if as_bool else mask.astype(np.float64)
        kind = "bool" if as_bool else "0/1 float"
        items.append(
            Item(
                (dy, mask_arg, rate), {}, f"dy {shape} {np.dtype(dtype)}, {kind} mask, rate={rate}"
            )
        )
    return items


def _compare_dropout_back(item: Item, value) -> str | None:
    dy, mask, rate = item.args
    want = _arr(dy) * _arr(mask) / (1 - rate)
    mistakes = [
        (
            "the gradient is not rescaled: divide by 1 - rate, as the forward pass did",
            lambda: _arr(dy) * _arr(mask),
        ),
        (
            "divided by rate: divide by 1 - rate, the probability to keep",
            lambda: _arr(dy) * _arr(mask) / rate,
        ),
    ]
    return compare_array(_arr(value), want, mistakes)


# --- softmax_cross_entropy ----------------------------------------------------------------


@cache
def _ce_items() -> list[Item]:
    rng = _rng(9)
    big = rng.normal(size=(4, 6)) * 1e3
    big[0] = [1e3, -1e3, 0.0, 5.0, 1e3 - 1, 2.0]
    return [
        Item((rng.normal(size=(5, 3)), rng.integers(0, 3, size=5)), {}, "logits (5, 3)"),
        Item((rng.normal(size=(8, 10)) * 3, rng.integers(0, 10, size=8)), {}, "logits (8, 10)"),
        Item((big, rng.integers(0, 6, size=4)), {}, "logits of size 1e3"),
        Item(
            (rng.normal(size=(1, 4)).astype(np.float32), np.array([2])), {}, "one example, float32"
        ),
    ]


def _compare_ce(item: Item, value) -> str | None:
    ref = _ref()
    logits, y = item.args
    loss, grad = ref.softmax_cross_entropy(logits, y)
    total, total_grad = ref.softmax_cross_entropy(logits, y, mean=False)
    got_loss = _arr(value[0])
    if got_loss.size != 1:
        return f"loss has shape {got_loss.shape}: return the mean over the batch, a scalar"
    mistakes = [
        (
            "the loss and gradient are sums over the batch: take the mean (divide by N)",
            lambda: (total, total_grad),
        )
    ]
    return _compare_named(
        [got_loss.reshape(()), value[1]], [np.array(loss), grad], ("loss", "dlogits"), mistakes
    )


# --- optimisers ---------------------------------------------------------------------------


def _grads(rng, shape, steps, scale) -> tuple:
    return tuple(rng.normal(size=shape) * scale for _ in range(steps))


@cache
def _opt_items(name: str) -> list[Item]:
    rng = _rng({"sgd": 10, "rmsprop": 11, "adam": 12}[name])
    shape = (3, 4)
    w0 = rng.normal(size=shape)
    configs = {
        "sgd": [
            ({"lr": 0.1}, 1.0, "momentum=0 (plain SGD)"),
            ({"lr": 0.05, "momentum": 0.9}, 1.0, "momentum=0.9"),
            ({"lr": 0.02, "momentum": 0.8, "nesterov": True}, 1.0, "momentum=0.8, nesterov=True"),
        ],
        "rmsprop": [
            ({"lr": 0.01}, 1.0, "lr=0.01, defaults"),
            ({"lr": 0.001}, 1e-4, "gradients of 1e-4 from a fresh state"),
            ({"lr": 0.01, "rho": 0.8, "epsilon": 1e-6}, 0.5, "rho=0.8, epsilon=1e-6"),
        ],
        "adam": [
            ({"lr": 0.01}, 1.0, "lr=0.01, defaults"),
            ({"lr": 0.001}, 1e-4, "gradients of 1e-4 from a fresh state"),
            ({"lr": 0.001}, 1e-6, "gradients of 1e-6 from a fresh state"),
            (
                {"lr": 0.02, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5},
                1.0,
                "beta_1=0.8, beta_2=0.99, epsilon=1e-5",
            ),
        ],
    }[name]
    return [
        Item((w0, _grads(rng, shape, 5, scale)), kw, f"5 steps, {label}")
        for kw, scale, label in configs
    ]


OPT_NAMES = {
    "sgd_momentum_step": ("w", "velocity"),
    "rmsprop_step": ("w", "avg_sq"),
    "adam_step": ("w", "m", "v"),
}


def _opt_chain_ref(function: str, item: Item, **flags) -> list[tuple]:
    ref = _ref()
    w0, grads = item.args
    kw = dict(item.kwargs)
    lr = kw.pop("lr")
    state = [np.zeros_like(w0), np.zeros_like(w0)]
    w, steps = w0, []
    for t, g in enumerate(grads, start=1):
        if function == "sgd_momentum_step":
            w, state[0] = ref.sgd_momentum_step(w, g, state[0], lr, **kw)
            steps.append((w, state[0]))
        elif function == "rmsprop_step":
            w, state[0] = ref.rmsprop_step(w, g, state[0], lr, **kw, **flags)
            steps.append((w, state[0]))
        else:
            w, state[0], state[1] = ref.adam_step(w, g, state[0], state[1], t, lr, **kw, **flags)
            steps.append((w, state[0], state[1]))
    return steps


def _observe_opt(function: str):
    def observe(ns: dict):
        fn = ns[function]
        names = OPT_NAMES[function]
        cases = []
        for item in _opt_items(function.split("_")[0]):
            w0, grads = item.args
            kw = dict(item.kwargs)
            lr = kw.pop("lr")
            w, state = w0, [np.zeros_like(w0)] * (len(names) - 1)
            steps = []
            for t, g in enumerate(grads, start=1):
                extra = (t,) if function == "adam_step" else ()
                got = _call(fn, (w, g, *state, *extra, lr), kw, names)
                steps.append(got)
                if _problem(got):
                    break
                w, *state = got["value"]
            cases.append({"steps": steps})
        return {"cases": cases}

    return observe


def _close_steps(got: list, want: tuple, w0: np.ndarray, names) -> str | None:
    """Compare w by its displacement from w0 (relative 1e-4 of the step) and the state arrays."""
    for name, g, w in zip(names, got, want, strict=True):
        g = _arr(g)
        if g.shape != w.shape:
            return f"{name} has shape {g.shape}, expected {w.shape}"
        if not np.all(np.isfinite(g)):
            return f"{name} contains NaN or inf"
        if name == "w":
            g, w = g - w0, w - w0
        tol = 1e-4 * float(np.max(np.abs(w))) + 1e-12
        if float(np.max(np.abs(g - w))) > tol:
            return f"{name} differs from Keras's rule by {float(np.max(np.abs(g - w))):.3g} (tolerance {tol:.1g})"
    return None


OPT_MISTAKES = {
    "rmsprop_step": [
        (
            "epsilon is outside the square root (CS231n's form): Keras divides by sqrt(avg_sq + epsilon); "
            "with small gradients the two steps differ tenfold",
            {"eps_outside": True},
        ),
    ],
    "adam_step": [
        (
            "no bias correction: Keras scales lr by sqrt(1 - beta_2**t) / (1 - beta_1**t) (t from 1)",
            {"form": "no_bias_correction"},
        ),
        (
            "epsilon is inside the square root: Keras's Adam adds epsilon to sqrt(v), outside the root",
            {"form": "eps_inside"},
        ),
        (
            "epsilon is added to sqrt of the corrected v-hat (CS231n's form): Keras adds it to sqrt(v) of "
            "the uncorrected v, with alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)",
            {"form": "corrected"},
        ),
    ],
}


def _verify_opt(function: str):
    names = OPT_NAMES[function]

    def verify(obs) -> tuple[bool, str]:
        items = _opt_items(function.split("_")[0])
        if len(obs["cases"]) != len(items):
            raise ValueError("wrong number of cases")
        for i, (item, got) in enumerate(zip(items, obs["cases"], strict=True), start=1):
            where = f"`{function}` failed on case {i} of {len(items)} ({item.label})"
            w0 = item.args[0]
            steps = got["steps"]
            for k, step in enumerate(steps):
                if _problem(step):
                    return False, f"{where}, step {k + 1}: {_problem(step)}"
            want = _opt_chain_ref(function, item)
            sgd_plain = function == "sgd_momentum_step" and not item.kwargs.get("momentum")
            first = None
            for k, (step, ref_step) in enumerate(zip(steps, want, strict=True)):
                got_values, ref_values, used = list(step["value"]), list(ref_step), names
                if sgd_plain:  # the velocity may stay unchanged or be -lr * g: only w is graded
                    got_values, ref_values, used = got_values[:1], ref_values[:1], names[:1]
                problem = _close_steps(got_values, tuple(ref_values), w0, used)
                if problem:
                    first = f"step {k + 1}: {problem}"
                    break
            if first is None:
                continue
            for explanation, flags in OPT_MISTAKES.get(function, []):
                wrong = _opt_chain_ref(function, item, **flags)
                if all(
                    _close_steps(list(s["value"]), w, w0, names) is None
                    for s, w in zip(steps, wrong, strict=True)
                ):
                    return False, f"{where}: {explanation}"
            if function == "sgd_momentum_step" and item.kwargs.get("nesterov"):
                plain = _opt_chain_ref(
                    function, Item(item.args, {**item.kwargs, "nesterov": False}, "")
                )
                if all(
                    _close_steps(list(s["value"]), w, w0, names) is None
                    for s, w in zip(steps, plain, strict=True)
                ):
                    return False, f"{where}: nesterov=True was ignored: w += momentum * v - lr * g"
            return False, f"{where}, {first}"
        return True, f"`{function}`: {len(items)} runs of 5 steps equal Keras's rule"

    return verify


# --- train_numpy_cnn ----------------------------------------------------------------------


def _n_params(params) -> int:
    arrays = params.values() if isinstance(params, dict) else params
    return int(sum(np.size(a) for a in arrays))


@dataclass(frozen=True)
class TrainTiming(Timing):
    """One timed round: ``train_numpy_cnn(x_train, y_train, epochs, seed)`` and then
    ``predict_numpy_cnn(params, x_test)``, from the same notebook; the probabilities and the
    number of parameters come back, the held-out labels never leave the grader."""

    def call(self, fn, args: tuple, returns: str):
        x_train, y_train, epochs, seed, x_test = args
        predict = getattr(fn, "__globals__", {}).get("predict_numpy_cnn")
        if not callable(predict):
            return {"bad_type": "`predict_numpy_cnn` is not defined next to `train_numpy_cnn`"}
        ok, params = call_quietly(fn, x_train, y_train, int(epochs), int(seed))
        if not ok:
            return {"error": str(params)}
        try:
            n_params = _n_params(params)
        except Exception as exc:  # noqa: BLE001 - student data
            return {
                "bad_type": f"could not count the parameters ({describe_exception(exc)}): return a dict of arrays"
            }
        ok, probs = call_quietly(predict, params, x_test)
        if not ok:
            return {"bad_type": f"`predict_numpy_cnn` raised {probs}"}
        got = to_plain_output(probs, "array")
        if "bad_type" in got:
            return {"bad_type": f"`predict_numpy_cnn` {got['bad_type']}"}
        return {"value": got["value"], "n_params": n_params}


TRAIN_TIMING = TrainTiming(rounds=1, limit=1.5 * TIME_BUDGET)


def _train_fresh(rng: np.random.Generator):
    """A stratified digits split and a seed drawn for this grading run; the labels of the
    held-out part stay with the grader."""
    from cnn_course.data import load_digits

    x, y = load_digits(8)  # (1797, 8, 8, 1) float32 in [0, 1]
    order = rng.permutation(len(y))
    train, test = order[:N_TRAIN], order[N_TRAIN : N_TRAIN + N_TEST]
    seed = int(rng.integers(0, 2**31 - 1))
    given = {"rounds": [(x[train], y[train], EPOCHS, seed, x[test])]}
    return given, {"y_test": y[test]}


def _observe_train(ns: dict, given):
    """nbgrader's harness: the same round, timed in the kernel."""
    return time_rounds(ns["train_numpy_cnn"], given["rounds"], TRAIN_TIMING, "array")


def _verify_train(obs, kept) -> tuple[bool, str]:
    seconds, outputs = list(obs["seconds"]), list(obs["outputs"])
    if len(seconds) != 1 or len(outputs) != 1:
        return False, "`train_numpy_cnn` did not answer the timed round"
    got = outputs[0]
    call = f"train_numpy_cnn(x_train, y_train, {EPOCHS}, seed) on {N_TRAIN} hidden digits"
    problem = _problem(got)
    if problem:
        return False, f"`{call}`: {problem}"
    y_test = np.asarray(kept["y_test"])
    probs = _arr(got["value"])
    n_params = int(got["n_params"])
    if probs.shape != (len(y_test), 10):
        return (
            False,
            f"`predict_numpy_cnn` returned shape {probs.shape}; expected ({len(y_test)}, 10)",
        )
    if not np.all(np.isfinite(probs)):
        return False, "`predict_numpy_cnn` returned NaN or inf (did the training diverge?)"
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3) or probs.min() < -1e-6:
        return (
            False,
            "`predict_numpy_cnn` must return probabilities: each row non-negative, summing to 1",
        )
    if n_params > PARAM_BUDGET:
        return False, f"the CNN has {n_params:,} parameters; the budget is {PARAM_BUDGET:,}"
    t = float(seconds[0])
    if not t <= TIME_BUDGET:
        return (
            False,
            f"`{call}` and the prediction took {t:.1f} s (timed by the grader); the budget is {TIME_BUDGET:g} s",
        )
    acc = float(np.mean(probs.argmax(axis=1) == y_test))
    if acc < THRESHOLD:
        return False, (
            f"`{call}`: held-out accuracy {acc:.1%} on {len(y_test)} hidden digits, below the "
            f"threshold {THRESHOLD:.0%}"
        )
    return True, (
        f"`train_numpy_cnn`: held-out accuracy {acc:.1%} on {len(y_test)} hidden digits (threshold "
        f"{THRESHOLD:.0%}), {n_params:,} parameters, {t:.1f} s"
    )


# The rules beyond values that the checks above enforce, by function. Each is stated in the
# notebook and exercised by a visible test marked `# rule: <rule>`; tests/test_visible_rules.py
# breaks each rule in turn and asserts that both the visible and the hidden tests fail.
RULES: dict[str, list[str]] = {
    "numerical_gradient": ["leaves x unchanged after the call"],
    "conv2d_backward": [
        "returns the tuple (dx, dw, db)",
        "accepts padding='same' (TensorFlow's rule)",
        "accepts padding='valid'",
    ],
    "batchnorm_forward": [
        "returns the tuple (y, moving_mean, moving_var)",
        "no NaN for a batch of one value per channel",
    ],
    "dropout_forward": [
        "returns x unchanged at inference (training=False)",
        "draws the mask from the rng it is given",
    ],
    "softmax_cross_entropy": ["stable for logits of 1e3 (no NaN or inf)"],
    "adam_step": ["t counts from 1 (the first call has t=1)"],
}


def _items_check(
    name, points, function, description, items, compare, names=("value",), optional=()
):
    return Check(
        name,
        points,
        function,
        description,
        custom_observe=_observe_items(function, items, names, optional),
        custom_verify=_verify_items(function, items, compare),
    )


CHECKS = [
    Check(
        "numerical_gradient",
        1,
        "numerical_gradient",
        "Central differences on functions with known gradients, x unchanged",
        custom_observe=_observe_numgrad,
        custom_verify=_verify_numgrad,
    ),
    _items_check(
        "conv2d_backward_basic",
        2,
        "conv2d_backward",
        "dx, dw, db of a convolution: stride 1, no padding, channels and batches",
        _conv_basic_items,
        _compare_conv,
        CONV_NAMES,
        CONV_NAMES,
    ),
    _items_check(
        "conv2d_backward_options",
        2,
        "conv2d_backward",
        "dx, dw, db with stride, integer, 'valid' and 'same' padding",
        _conv_options_items,
        _compare_conv,
        CONV_NAMES,
        CONV_NAMES,
    ),
    _items_check(
        "pool2d_backward",
        2,
        "pool2d_backward",
        "Max and average pooling gradients, overlapping windows accumulating",
        _pool_items,
        _compare_pool,
    ),
    Check(
        "batchnorm_forward",
        2,
        "batchnorm_forward",
        "Training steps then inference, moving statistics as Keras, a batch of one",
        custom_observe=_observe_bn,
        custom_verify=_verify_bn,
    ),
    _items_check(
        "batchnorm_backward",
        2,
        "batchnorm_backward",
        "Training-mode gradients dx, dgamma, dbeta",
        _bn_back_items,
        _compare_bn_back,
        ("dx", "dgamma", "dbeta"),
        ("dx", "dgamma", "dbeta"),
    ),
    Check(
        "dropout_forward",
        1,
        "dropout_forward",
        "Inverted dropout: drop fraction, scaling, the given rng, identity at inference",
        custom_observe=_observe_dropout,
        custom_verify=_verify_dropout,
    ),
    _items_check(
        "dropout_backward",
        1,
        "dropout_backward",
        "The gradient through the mask, rescaled",
        _dropout_back_items,
        _compare_dropout_back,
    ),
    _items_check(
        "softmax_cross_entropy",
        1,
        "softmax_cross_entropy",
        "Mean cross-entropy and its gradient, stable at logits of 1e3",
        _ce_items,
        _compare_ce,
        ("loss", "dlogits"),
        ("loss", "dlogits"),
    ),
    Check(
        "sgd_momentum_step",
        1,
        "sgd_momentum_step",
        "Five steps of Keras's SGD: plain, momentum, Nesterov",
        custom_observe=_observe_opt("sgd_momentum_step"),
        custom_verify=_verify_opt("sgd_momentum_step"),
    ),
    Check(
        "rmsprop_step",
        1,
        "rmsprop_step",
        "Five steps of Keras's RMSprop, small gradients included",
        custom_observe=_observe_opt("rmsprop_step"),
        custom_verify=_verify_opt("rmsprop_step"),
    ),
    Check(
        "adam_step",
        2,
        "adam_step",
        "Five steps of Keras's Adam, small gradients included",
        custom_observe=_observe_opt("adam_step"),
        custom_verify=_verify_opt("adam_step"),
    ),
    Check(
        "train_numpy_cnn",
        3,
        "train_numpy_cnn",
        f"A NumPy CNN reaching {THRESHOLD:.0%} on hidden digits within {TIME_BUDGET:g} s",
        custom_observe=_observe_train,
        custom_verify=_verify_train,
        fresh=_train_fresh,
        timing=TRAIN_TIMING,
    ),
]


def _warmup() -> None:
    """What the notebook's cells load lazily: done once, inherited by every child."""
    import matplotlib.pyplot as plt

    from cnn_course.data import load_digits

    load_digits(8)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.contour(np.zeros((2, 2)))
    plt.close(fig)


ASSIGNMENT = Assignment(
    aid=AID,
    checks=CHECKS,
    preload=(
        "numpy",
        "matplotlib",
        "matplotlib.pyplot",
        "cnn_course",
        "cnn_course.data",
        "cnn_course.testing",
    ),
    address_space_limit=True,
    default_timeout=120.0,
    warmup=_warmup,
)
