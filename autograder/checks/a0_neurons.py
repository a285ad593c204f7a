"""Hidden checks of a0_neurons: one neuron, XOR, activations and backpropagation in NumPy.

Inputs are built here (NumPy only) and shared by both sides; expected outputs and the known
wrong variants come from :mod:`autograder.reference.neurons`, imported only inside the
verifying functions, i.e. only where points are decided. Functions that return tuples or
dicts (weights, parameters, gradients) are observed by ``custom_observe`` functions that turn
the returned arrays into plain data; the verifier evaluates weights itself (truth tables, XOR
accuracy), so only numbers cross the boundary. Case labels describe the configuration, never
the values.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from autograder.core import (
    Assignment,
    Case,
    Check,
    Timing,
    call_quietly,
    compare_array,
    time_rounds,
    to_plain_output,
)

AID = "a0_neurons"
XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_Y = np.array([0, 1, 1, 0])
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softsign")
# train_xor is graded with these, from seed 0 and two seeds drawn fresh for each grading run.
EPOCHS, LR, GIVEN_SEED = 1000, 0.5, 0
LR_EPOCHS = 50  # train_xor(LR_EPOCHS, 0.0, seed) must equal train_xor(0, LR, seed)
CPU_BUDGET = 2.0  # seconds one call of train_xor(EPOCHS, LR, seed) may take, timed by the grader
KEYS = ("W1", "b1", "W2", "b2")


def _ref():
    from autograder.reference import neurons

    return neurons


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(20261200 + seed)


def _label(**kw) -> str:
    parts = []
    for k, v in kw.items():
        if isinstance(v, np.ndarray):
            parts.append(f"{k} {v.shape} {v.dtype}")
        elif isinstance(v, dict):
            parts.append(f"{k} " + ", ".join(f"{n} {a.shape}" for n, a in v.items()))
        else:
            parts.append(f"{k}={v!r}")
    return ", ".join(parts)


def _arrays(out, n: int) -> dict:
    """A tuple of ``n`` array-likes as plain data: ``{"value": [...]}`` or ``{"bad_type": ...}``."""
    if not isinstance(out, (tuple, list)) or len(out) != n:
        kind = f"a {type(out).__name__}" + (
            f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""
        )
        return {"bad_type": f"returned {kind}; return a tuple of {n}"}
    items = [to_plain_output(o, "array") for o in out]
    for i, item in enumerate(items):
        if "bad_type" in item:
            return {"bad_type": f"item {i} of the tuple: {item['bad_type']}"}
    return {"value": [item["value"] for item in items]}


def _params(out) -> dict:
    """A dict of parameters or gradients (keys W1, b1, W2, b2) as plain data."""
    if not isinstance(out, dict):
        return {
            "bad_type": f"returned a {type(out).__name__}; return a dict with keys W1, b1, W2, b2"
        }
    missing = [k for k in KEYS if k not in out]
    if missing:
        return {"bad_type": f"the dict has no key {missing[0]!r}; its keys must be W1, b1, W2, b2"}
    value = {}
    for k in KEYS:
        item = to_plain_output(out[k], "array")
        if "bad_type" in item:
            return {"bad_type": f"[{k!r}]: {item['bad_type']}"}
        value[k] = item["value"]
    return {"value": value}


def _problem(got) -> str | None:
    """The error or bad type of one observed call, if any."""
    if not isinstance(got, dict):
        raise TypeError("observation is not a dict")
    if got.get("error") is not None:
        return f"raised {got['error']}"
    if "bad_type" in got:
        return str(got["bad_type"])
    return None


def _table(values) -> str:
    return "[" + ", ".join(f"{v:g}" for v in np.asarray(values, dtype=np.float64).ravel()) + "]"


# --- neuron -----------------------------------------------------------------------------


@cache
def _neuron_cases() -> list[Case]:
    rng = _rng(1)
    grid = XOR_X.copy()
    cases = [
        Case(
            (grid, np.array([1.0, 1.0]), -1.5),
            {},
            "the four binary inputs, AND's weights, default activation",
        ),
        Case(
            (grid, np.array([1.0, 1.0]), -1.0),
            {"activation": "step"},
            "binary inputs with z = 0 at (0, 1) and (1, 0)",
        ),
    ]
    for name, n, d, dtype in [
        ("step", 6, 3, np.float64),
        ("sigmoid", 5, 2, np.float64),
        ("tanh", 7, 4, np.float32),
        ("relu", 8, 3, np.float64),
        ("sigmoid", 4, 5, np.float32),
        ("relu", 6, 1, np.float32),
    ]:
        x = rng.normal(size=(n, d)).astype(dtype)
        w = rng.normal(size=(d,)).astype(dtype)
        b = float(rng.normal())
        cases.append(Case((x, w, b), {"activation": name}, _label(x=x, w=w, activation=name)))
    return cases


def _compare_neuron(case: Case, got) -> str | None:
    ref = _ref()
    x, w, b = case.args
    name = case.kwargs.get("activation", "step")
    want = ref.neuron(x, w, b, name)
    z = np.asarray(x, dtype=np.float64) @ np.asarray(w, dtype=np.float64) + b
    mistakes = [
        (
            "step(0) must be 0: the step is 1 where z > 0, else 0 (use >, not >=)",
            lambda: (z >= 0).astype(float),
        ),
        ("the bias is subtracted: compute x @ w + b", lambda: ref.activation(name, z - 2 * b)),
        ("the bias is missing: compute x @ w + b", lambda: ref.activation(name, z - b)),
        ("the activation is missing: you return z = x @ w + b", lambda: z),
    ]
    arr = got["value"]
    if arr.shape == (len(x), 1) and want.shape == (len(x),):
        return f"output shape {arr.shape}: return shape (N,) = ({len(x)},), one number per row of x"
    return compare_array(arr, want, mistakes)


# --- gates ------------------------------------------------------------------------------


def _observe_gates(ns: dict):
    fn = ns["gate_weights"]
    out = {}
    for name in ("and", "or", "not"):
        ok, res = call_quietly(fn, name)
        out[name] = _arrays(res, 2) if ok else {"error": res}
    return out


def _named_table(got: np.ndarray, want_name: str) -> str:
    ref = _ref()
    for other, table in ref.TRUTH.items():
        if other != want_name and np.array_equal(got, table):
            return f": your {want_name.upper()} neuron computes {other.upper()}"
    return ""


def _verify_gates(obs) -> tuple[bool, str]:
    ref = _ref()
    for name in ("and", "or", "not"):
        got = obs[name]
        problem = _problem(got)
        if problem:
            return False, f"`gate_weights({name!r})` {problem}"
        w, b = (np.asarray(v, dtype=np.float64) for v in got["value"])
        inputs = ref.NOT_X if name == "not" else ref.XOR_X
        want = ref.NOT_TRUTH if name == "not" else ref.TRUTH[name]
        if w.shape != (inputs.shape[1],):
            extra = ": NOT has one input, so w has shape (1,)" if name == "not" else ""
            return (
                False,
                f"`gate_weights({name!r})`: w has shape {w.shape}, expected {(inputs.shape[1],)}{extra}",
            )
        if b.size != 1:
            return False, f"`gate_weights({name!r})`: b must be one number, got shape {b.shape}"
        out = ref.step(inputs @ w + float(b.ravel()[0]))
        if not np.array_equal(out, want):
            hint = "" if name == "not" else _named_table(out, name)
            return False, (
                f"`gate_weights({name!r})`: the step neuron outputs {_table(out)} on the inputs "
                f"{'0, 1' if name == 'not' else '(0,0), (0,1), (1,0), (1,1)'}, expected {_table(want)}{hint}"
            )
    return True, "`gate_weights`: AND, OR and NOT compute their truth tables"


# --- XOR --------------------------------------------------------------------------------


@cache
def _features_cases() -> list[Case]:
    rng = _rng(2)
    cases = [Case((XOR_X.copy(),), {}, "the four binary inputs")]
    for n, dtype in [(6, np.float64), (5, np.float32), (9, np.float64)]:
        x = rng.normal(size=(n, 2)).astype(dtype)
        cases.append(Case((x,), {}, _label(x=x)))
    return cases


def _compare_features(case: Case, got) -> str | None:
    ref = _ref()
    (x,) = case.args
    want = ref.xor_features(x)
    x64 = np.asarray(x, dtype=np.float64)
    mistakes = [
        (
            "x1·x2 must be appended as the third column, not put first",
            lambda: np.c_[x64[:, 0] * x64[:, 1], x64],
        ),
        ("the third column must be the product x1·x2", lambda: np.c_[x64, x64[:, 0] + x64[:, 1]]),
    ]
    return compare_array(got["value"], want, mistakes)


SINGLE_LINE = "one step neuron on (x1, x2) alone draws a single line, and no line computes XOR"


def _observe_one_neuron(ns: dict):
    ok, res = call_quietly(ns["xor_weights_one_neuron"])
    return _arrays(res, 2) if ok else {"error": res}


def _verify_one_neuron(obs) -> tuple[bool, str]:
    ref = _ref()
    problem = _problem(obs)
    if problem:
        return False, f"`xor_weights_one_neuron()` {problem}"
    w, b = (np.asarray(v, dtype=np.float64) for v in obs["value"])
    if w.shape == (2,):
        return (
            False,
            f"`xor_weights_one_neuron()`: w has 2 weights: {SINGLE_LINE}; weight the third feature x1·x2 of xor_features too",
        )
    if w.shape != (3,) or b.size != 1:
        return (
            False,
            f"`xor_weights_one_neuron()`: w has shape {w.shape} and b {b.shape}; expected (3,) and one number",
        )
    out = ref.step(ref.xor_features(ref.XOR_X) @ w + float(b.ravel()[0]))
    if np.array_equal(out, ref.TRUTH["xor"]):
        return True, "`xor_weights_one_neuron`: one neuron with the feature x1·x2 computes XOR"
    if w[2] == 0:
        return False, f"`xor_weights_one_neuron()`: the weight of x1·x2 is 0, so {SINGLE_LINE}"
    return False, (
        f"`xor_weights_one_neuron()`: on xor_features of (0,0), (0,1), (1,0), (1,1) the neuron outputs "
        f"{_table(out)}, expected [0, 1, 1, 0]{_named_table(out, 'xor')}"
    )


def _observe_two_layer(ns: dict):
    ok, res = call_quietly(ns["xor_two_layer"])
    return _arrays(res, 4) if ok else {"error": res}


def _verify_two_layer(obs) -> tuple[bool, str]:
    ref = _ref()
    problem = _problem(obs)
    if problem:
        return False, f"`xor_two_layer()` {problem}"
    w1, b1, w2, b2 = (np.asarray(v, dtype=np.float64) for v in obs["value"])
    if w1.ndim == 1 and w1.shape == (2,) or (w1.ndim == 2 and w1.shape[1] == 1):
        return False, (
            "`xor_two_layer()`: one hidden neuron is a single step neuron, and "
            f"{SINGLE_LINE}: use two hidden neurons (the lecture uses OR and AND)"
        )
    if w1.ndim != 2 or w1.shape[0] != 2:
        return False, f"`xor_two_layer()`: w1 has shape {w1.shape}, expected (2, H)"
    h = w1.shape[1]
    if b1.shape != (h,) or w2.size != h or w2.ndim > 2 or b2.size != 1:
        return False, (
            f"`xor_two_layer()`: shapes w1 {w1.shape}, b1 {b1.shape}, w2 {w2.shape}, b2 {b2.shape}; "
            f"expected (2, {h}), ({h},), ({h},) and one number"
        )
    out = ref.step_network(ref.XOR_X, w1, b1, w2, b2)
    if np.array_equal(out, ref.TRUTH["xor"]):
        return True, f"`xor_two_layer`: the network with {h} hidden neurons computes XOR"
    return False, (
        f"`xor_two_layer()`: on (0,0), (0,1), (1,0), (1,1) the network outputs {_table(out)}, "
        f"expected [0, 1, 1, 0]{_named_table(out, 'xor')}"
    )


# --- activations ------------------------------------------------------------------------


@cache
def _activation_cases() -> list[Case]:
    rng = _rng(3)
    cases = []
    for i, name in enumerate(ACTIVATIONS):
        z = np.r_[rng.uniform(-5, 5, size=9), 0.0, -50.0, 50.0, -1e-3, 1e-3, -0.5, 0.5]
        cases.append(
            Case((name, z), {}, _label(name=name, z=z) + ", zeros and |z| up to 50 included")
        )
        z32 = rng.uniform(-4, 4, size=(3, 4)).astype(np.float32)
        z32[i % 3, i % 4] = 0.0
        cases.append(Case((name, z32), {}, _label(name=name, z=z32)))
    return cases


def _compare_activation(case: Case, got) -> str | None:
    ref = _ref()
    name, z = case.args
    want = ref.activation(name, z)
    mistakes = [
        ("this is the derivative, not the activation", lambda: ref.activation_grad(name, z))
    ]
    if name == "leaky_relu":
        mistakes += [
            (
                "α = 0.2 is Keras's default; leaky ReLU here uses α = 0.01",
                lambda: ref.activation(name, z, alpha=0.2),
            ),
            ("leaky ReLU uses α = 0.01, not 0.1", lambda: ref.activation(name, z, alpha=0.1)),
        ]
    return compare_array(got["value"], want, mistakes)


def _compare_activation_grad(case: Case, got) -> str | None:
    ref = _ref()
    name, z = case.args
    z64 = np.asarray(z, dtype=np.float64)
    want = ref.activation_grad(name, z)
    f = ref.activation(name, z)
    mistakes = {
        "sigmoid": [("σ'(z) = σ(z)(1 − σ(z)), not σ(z)", lambda: f)],
        "tanh": [("tanh'(z) = 1 − tanh²(z), not 1 − tanh(z)", lambda: 1 - f)],
        "relu": [
            ("ReLU's derivative is 0 for z < 0, not 1", lambda: np.ones_like(z64)),
            ("ReLU's derivative is 0 for z < 0, not 1", lambda: np.where(z64 == 0, 0.0, 1.0)),
            (
                "ReLU's derivative at 0 is 0 here (the convention): use z > 0, not z >= 0",
                lambda: ref.activation_grad(name, z, at_zero=1.0),
            ),
        ],
        "leaky_relu": [
            (
                "leaky ReLU's derivative at 0 is α = 0.01 here (the convention), not 1",
                lambda: ref.activation_grad(name, z, at_zero=1.0),
            ),
            (
                "α = 0.2 is Keras's default; leaky ReLU here uses α = 0.01",
                lambda: ref.activation_grad(name, z, alpha=0.2),
            ),
            (
                "leaky ReLU's derivative is α = 0.01 for z < 0, not 0",
                lambda: ref.activation_grad("relu", z),
            ),
        ],
        "elu": [
            (
                "ELU's derivative for z < 0 is α·exp(z) with α = 1",
                lambda: np.where(z64 > 0, 1.0, np.expm1(np.minimum(z64, 0))),
            )
        ],
        "softsign": [
            ("softsign'(z) = 1 / (1 + |z|)², not 1 / (1 + |z|)", lambda: 1 / (1 + np.abs(z64)))
        ],
    }[name] + [("this is the activation, not its derivative", lambda: f)]
    problem = compare_array(got["value"], want, mistakes)
    if problem is None or got["value"].shape != want.shape or problem in {m for m, _ in mistakes}:
        return problem
    # Otherwise say where it disagrees with central differences of the activation (float64,
    # away from the kink at 0): what a derivative must match whatever the formula.
    smooth = np.abs(z64) > 1e-3
    cd = ref.central_difference(name, z64)
    diff = np.where(smooth, np.abs(got["value"] - cd), -1.0)
    i = np.unravel_index(int(np.argmax(diff)), diff.shape)
    if diff[i] > 1e-4 * max(1.0, abs(float(cd[i]))):
        return (
            f"{problem}; at z = {z64[i]:.4g} your derivative is {float(got['value'][i]):.6g} but the "
            f"central difference (f(z + h) − f(z − h)) / 2h of {name} is {float(cd[i]):.6g}"
        )
    return problem


# --- softmax and cross-entropy ------------------------------------------------------------


@cache
def _softmax_cases() -> list[Case]:
    rng = _rng(4)
    big = np.array(
        [
            [1000.0, 0.0, -1000.0],
            [-1000.0, -1000.0, -1000.0],
            [1000.0, 1000.0, 999.0],
            [-1000.0, 999.0, 1000.0],
        ]
    )
    cases = [
        Case((np.zeros((3, 4)),), {}, "zero logits (every probability 1/K)"),
        Case((big,), {}, "logits of ±1e3 (stability)"),
        Case((big.astype(np.float32),), {}, "logits of ±1e3, float32"),
    ]
    for n, k, dtype in [
        (5, 3, np.float64),
        (4, 6, np.float32),
        (7, 2, np.float64),
        (3, 10, np.float64),
    ]:
        z = (3 * rng.normal(size=(n, k))).astype(dtype)
        cases.append(Case((z,), {}, _label(z=z)))
    return cases


def _compare_softmax(case: Case, got) -> str | None:
    ref = _ref()
    (z,) = case.args
    want = ref.softmax(z)
    arr = got["value"]
    z64 = np.asarray(z, dtype=np.float64)
    if arr.shape == want.shape and not np.all(np.isfinite(arr)) and np.max(np.abs(z64)) >= 1e3:
        return "NaN or inf at logits of ±1e3: exp overflows; subtract each row's maximum before np.exp (softmax(z) = softmax(z - max))"
    e = np.exp(z64 - z64.max())
    mistakes = [
        (
            "normalised over the columns (axis 0): each row must sum to 1 (sum over axis=1)",
            lambda: e / e.sum(axis=0, keepdims=True),
        ),
        (
            "normalised over the whole batch: each row must sum to 1 (sum over axis=1, keepdims=True)",
            lambda: e / e.sum(),
        ),
    ]
    return compare_array(arr, want, mistakes)


@cache
def _ce_cases() -> list[Case]:
    ref_softmax = _softmax_np
    rng = _rng(5)
    cases = [
        Case(
            (np.full((4, 5), 0.2), np.array([0, 3, 2, 4])),
            {},
            "uniform probabilities over K = 5 (loss log 5)",
        )
    ]
    for n, k, dtype in [(6, 3, np.float64), (5, 4, np.float32), (8, 2, np.float64)]:
        probs = ref_softmax(2 * rng.normal(size=(n, k))).astype(dtype)
        y = rng.integers(0, k, size=n)
        cases.append(Case((probs, y), {}, _label(probs=probs, y=y)))
    p0 = np.array([[1.0, 0.0, 0.0], [0.2, 0.5, 0.3], [0.0, 0.0, 1.0]])
    cases.append(
        Case(
            (p0, np.array([1, 1, 0])),
            {},
            "a probability of exactly 0 for the true class (clipping)",
        )
    )
    return cases


def _softmax_np(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _compare_ce(case: Case, got) -> str | None:
    ref = _ref()
    probs, y = case.args
    want = np.asarray(ref.cross_entropy(probs, y))
    arr = got["value"]
    if arr.shape == (1,):  # a 0-d array travels as shape (1,) (np.ascontiguousarray)
        arr = arr.reshape(())
    n = len(y)
    if arr.shape == (n,):
        return f"returned one loss per example, shape {arr.shape}: return their mean over the batch (one float)"
    if arr.shape == () and not np.isfinite(arr):
        return "returned inf or NaN: clip the probabilities to at least 1e-7 before the log (np.clip(p, 1e-7, 1))"
    p64 = np.asarray(probs, dtype=np.float64)
    mistakes = [
        (
            "summed over the batch: return the mean (divide by N)",
            lambda: ref.cross_entropy(probs, y, reduce="sum"),
        ),
        (
            "probs[:, y] takes a whole column per label for every row: pick one entry per row, probs[np.arange(N), y]",
            lambda: -np.mean(np.log(np.clip(p64[:, np.asarray(y)], 1e-7, 1))),
        ),
        ("the sign is wrong: the loss is -log p, a positive number", lambda: -want),
    ] + [
        (
            f"probabilities clipped at {eps:g}: clip at 1e-7 (Keras's epsilon)",
            lambda eps=eps: ref.cross_entropy(probs, y, eps=eps),
        )
        for eps in (1e-15, 1e-12, 1e-10, 1e-9, 1e-8, 1e-6, 1e-5)
    ]
    return compare_array(arr, want, mistakes)


# --- the two-layer network ------------------------------------------------------------------


@cache
def _net_cases() -> list[tuple[np.ndarray, np.ndarray, dict, str]]:
    """(x, y, params, label): random nets with D, H, K all different (a transpose shows)."""
    rng = _rng(6)
    cases = []
    for n, d, h, k, dtype in [
        (5, 3, 4, 2, np.float64),
        (7, 4, 6, 3, np.float64),
        (6, 2, 5, 4, np.float32),
        (9, 5, 3, 6, np.float64),
    ]:
        x = rng.normal(size=(n, d)).astype(dtype)
        y = rng.integers(0, k, size=n)
        params = {
            "W1": rng.normal(0, 0.8, size=(d, h)).astype(dtype),
            "b1": rng.normal(0, 0.3, size=(h,)).astype(dtype),
            "W2": rng.normal(0, 0.8, size=(h, k)).astype(dtype),
            "b2": rng.normal(0, 0.3, size=(k,)).astype(dtype),
        }
        cases.append((x, y, params, _label(x=x, params=params)))
    return cases


def _copy_params(params: dict) -> dict:
    return {k: v.copy() for k, v in params.items()}


def _observe_forward(ns: dict):
    fn = ns["mlp_forward"]
    out = []
    for x, _y, params, _ in _net_cases():
        ok, res = call_quietly(fn, x, _copy_params(params))
        if not ok:
            out.append({"error": res})
        elif not isinstance(res, tuple) or len(res) != 2:
            out.append(
                {"bad_type": f"returned a {type(res).__name__}; return the tuple (probs, cache)"}
            )
        else:
            out.append(to_plain_output(res[0], "array"))
    return {"cases": out}


def _verify_forward(obs) -> tuple[bool, str]:
    ref = _ref()
    cases = _net_cases()
    if len(obs["cases"]) != len(cases):
        raise ValueError("wrong number of cases")
    for i, ((x, _y, params, label), got) in enumerate(
        zip(cases, obs["cases"], strict=True), start=1
    ):
        where = f"`mlp_forward` failed on case {i} of {len(cases)} ({label})"
        problem = _problem(got)
        if problem:
            return False, f"{where}: {problem}"
        want, u = ref.mlp_forward(x, params)
        p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        logits = u @ p64["W2"] + p64["b2"]
        relu = np.maximum(x @ p64["W1"] + p64["b1"], 0) @ p64["W2"] + p64["b2"]
        linear = (x @ p64["W1"] + p64["b1"]) @ p64["W2"] + p64["b2"]
        mistakes = [
            ("you return the logits: end with a softmax", lambda v=logits: v),
            ("the hidden layer must use tanh", lambda v=relu: ref.softmax(v)),
            ("the hidden layer must use tanh (you used none)", lambda v=linear: ref.softmax(v)),
        ]
        problem = compare_array(got["value"], want, mistakes)
        if problem:
            return False, f"{where}: probs: {problem}"
    return True, f"`mlp_forward`: all {len(cases)} cases correct"


def _observe_backward(ns: dict):
    forward, backward = ns.get("mlp_forward"), ns["mlp_backward"]
    if not callable(forward):
        return {
            "missing": "`mlp_backward` needs `mlp_forward`, which is not defined in your notebook"
        }
    out = []
    for x, y, params, _ in _net_cases():
        ok, res = call_quietly(forward, x, _copy_params(params))
        if not ok or not isinstance(res, tuple) or len(res) != 2:
            out.append(
                {
                    "error": f"mlp_forward failed ({res if not ok else 'it did not return (probs, cache)'})"
                }
            )
            continue
        ok, grads = call_quietly(backward, res[1], y.copy())
        out.append(_params(grads) if ok else {"error": grads})
    return {"cases": out}


def _verify_backward(obs) -> tuple[bool, str]:
    ref = _ref()
    cases = _net_cases()
    if len(obs["cases"]) != len(cases):
        raise ValueError("wrong number of cases")
    worst = 0.0
    for i, ((x, y, params, label), got) in enumerate(
        zip(cases, obs["cases"], strict=True), start=1
    ):
        where = f"`mlp_backward` failed on case {i} of {len(cases)} ({label})"
        problem = _problem(got)
        if problem:
            return False, f"{where}: {problem}"
        grads = {k: np.asarray(v, dtype=np.float64) for k, v in got["value"].items()}
        want = ref.mlp_backward(x, y, params)
        variants = {
            m: ref.mlp_backward(x, y, params, mistake=m)
            for m in ("no_mean", "no_tanh_grad", "transposed")
        }

        def matches(variant, keys=KEYS, grads=grads):
            return all(compare_array(grads[k], variant[k]) is None for k in keys)

        if all(grads[k].shape == want[k].shape for k in KEYS) and matches(want):
            worst = max(worst, max(_rel_error(grads[k], want[k]) for k in KEYS))
            continue
        if matches(variants["no_mean"]):
            return (
                False,
                f"{where}: every gradient is N = {len(x)} times too large: the loss is the mean over the batch, so divide by N",
            )
        for k in ("W1", "W2"):
            if (
                grads[k].shape == want[k].T.shape != want[k].shape
                and compare_array(grads[k], want[k].T) is None
            ):
                return False, (
                    f"{where}: d{k} has shape {grads[k].shape}, the transpose of the right one: the gradient of "
                    f"{k} has {k}'s shape {want[k].shape} (input.T @ dz, not dz.T @ input)"
                )
        if matches(variants["no_tanh_grad"], ("W1", "b1")) and matches(want, ("W2", "b2")):
            return (
                False,
                f"{where}: dW1 and db1 miss tanh's derivative: multiply the hidden error by 1 − u² (u = the tanh outputs)",
            )
        for k in KEYS:
            if grads[k].shape != want[k].shape:
                return (
                    False,
                    f"{where}: d{k} has shape {grads[k].shape}, expected {k}'s shape {want[k].shape}",
                )
            problem = compare_array(grads[k], want[k])
            if problem:
                return (
                    False,
                    f"{where}: d{k}: {problem} (relative error {_rel_error(grads[k], want[k]):.1e})",
                )
    return (
        True,
        f"`mlp_backward`: all {len(cases)} cases correct (largest relative error {worst:.1e})",
    )


def _rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """CS231n's relative error: max |a - b| / max(1e-8, |a| + |b|)."""
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))) if a.size else 0.0


# --- train_xor ------------------------------------------------------------------------------


def _xor_fresh(rng: np.random.Generator):
    """The given seed and two hidden seeds, drawn fresh for each grading run, as timed rounds:
    three trainings, one call with lr = 0, three initialisations."""
    seeds = [GIVEN_SEED, *(int(s) for s in rng.integers(1, 2**31 - 1, size=2))]
    rounds = [(EPOCHS, LR, s) for s in seeds] + [(LR_EPOCHS, 0.0, GIVEN_SEED)]
    rounds += [(0, LR, s) for s in seeds]
    return {"rounds": rounds}, {"seeds": seeds}


# Every call of train_xor is timed by the grader, from outside the notebook.
XOR_TIMING = Timing(rounds=7, limit=3 * CPU_BUDGET, convert=_params)


def _observe_train(ns: dict, given):
    """nbgrader's harness: the same rounds, timed in the kernel."""
    return time_rounds(ns["train_xor"], given["rounds"], XOR_TIMING, "array")


def _runs(obs) -> tuple[list, dict, list]:
    """(the three trainings with their seconds, the lr = 0 call, the three initialisations)."""
    seconds, outputs = list(obs["seconds"]), list(obs["outputs"])
    if len(seconds) != 7 or len(outputs) != 7:
        raise ValueError("missing rounds")
    runs = [{"cpu": float(t), **out} for t, out in zip(seconds[:3], outputs[:3], strict=True)]
    return runs, outputs[3], outputs[4:]


def _floats(got) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in got["value"].items()}


def _verify_train(obs, kept) -> tuple[bool, str]:
    ref = _ref()
    seeds = list(kept["seeds"])
    runs, still_obs, starts_obs = _runs(obs)
    call = f"train_xor({EPOCHS}, {LR}, seed)"
    for i, run in enumerate(runs):
        seed = seeds[i]
        which = "the given seed 0" if i == 0 else f"the hidden seed {seed}"
        problem = _problem(run)
        if problem:
            return False, f"`{call}` from {which}: {problem}"
        cpu = float(run["cpu"])
        if not cpu <= CPU_BUDGET:
            return False, (
                f"`{call}` from {which} took {cpu:.1f} s (timed by the grader); the budget is {CPU_BUDGET:g} s per call"
            )
        params = _floats(run)
        h = params["W1"].shape[-1] if params["W1"].ndim == 2 else -1
        shapes = {"W1": (2, h), "b1": (h,), "W2": (h, 2), "b2": (2,)}
        if h < 1 or any(params[k].shape != s for k, s in shapes.items()):
            got = ", ".join(f"{k} {params[k].shape}" for k in KEYS)
            return False, (
                f"`{call}` from {which}: parameter shapes {got}; expected W1 (2, H), b1 (H,), W2 (H, 2), b2 (2,)"
            )
        if not all(np.all(np.isfinite(v)) for v in params.values()):
            return (
                False,
                f"`{call}` from {which}: the parameters hold NaN or inf (did the training diverge?)",
            )
        acc = ref.xor_accuracy(params)
        if acc < 1.0:
            return False, (
                f"`{call}` from {which}: the trained network classifies {int(round(4 * acc))} of the 4 XOR "
                "inputs right; it must get all four"
            )
    labels = [("still", still_obs, f"train_xor({LR_EPOCHS}, 0.0, 0)")]
    labels += [
        (i, start, f"train_xor(0, {LR}, {'0' if i == 0 else 'a hidden seed'})")
        for i, start in enumerate(starts_obs)
    ]
    for _key, got, label in labels:
        problem = _problem(got)
        if problem:
            return False, f"`{label}` {problem}"
    starts = [_floats(start) for start in starts_obs]
    still = _floats(still_obs)
    for k in KEYS:
        a, b = starts[0][k], still[k]
        if a.shape != b.shape or compare_array(b, a, rtol=1e-9) is not None:
            return False, (
                f"`train_xor({LR_EPOCHS}, 0.0, 0)` changed {k} from its initial value `train_xor(0, {LR}, 0)`: "
                "use the lr you are given (with lr = 0 the parameters must not move)"
            )
    w1s = [start["W1"] for start in starts]
    if any(
        a.shape == b.shape and np.array_equal(a, b) for i, a in enumerate(w1s) for b in w1s[i + 1 :]
    ):
        return False, (
            "`train_xor(0, lr, seed)` returns the same W1 for different seeds: draw the initial "
            "parameters from np.random.default_rng(seed)"
        )
    return (
        True,
        "`train_xor`: 100% on XOR from the given seed and two hidden seeds, within the CPU budget",
    )


# The rules beyond values that the checks above enforce, by function. Each is stated in the
# notebook and exercised by a visible test marked `# rule: <rule>`; tests/test_visible_rules.py
# breaks each rule in turn and asserts that both the visible and the hidden tests fail.
RULES: dict[str, list[str]] = {
    "neuron": ["returns shape (N,) for x of shape (N, D)", "the step is 0 at z = 0"],
    "gate_weights": ["'not' has one input: w of shape (1,)"],
    "xor_features": ["appends x1*x2 as the third column"],
    "activation": ["leaky_relu uses alpha = 0.01 (Keras's default is 0.2)"],
    "activation_grad": [
        "ReLU's derivative at 0 is 0",
        "leaky ReLU's derivative at 0 is alpha = 0.01",
    ],
    "softmax": ["stable for logits of ±1e3 (no NaN or inf)", "each row sums to 1"],
    "cross_entropy": ["returns the mean over the batch", "clips probabilities below at 1e-7"],
    "mlp_forward": ["returns the tuple (probs, cache)"],
    "mlp_backward": [
        "returns a dict with keys W1, b1, W2, b2",
        "each gradient has its parameter's shape",
    ],
    "train_xor": [
        "returns a dict with keys W1, b1, W2, b2",
        "uses the lr it is given (lr = 0 leaves the parameters unchanged)",
        "draws the initial parameters from the seed (different seeds, different starts)",
        "at most 2 s per call, timed by the grader",
    ],
}


CHECKS = [
    Check(
        "neuron",
        2,
        "neuron",
        "One neuron: activation(x @ w + b), step, sigmoid, tanh, relu",
        _neuron_cases,
        _compare_neuron,
    ),
    Check(
        "gate_weights",
        2,
        "gate_weights",
        "Weights of step neurons computing AND, OR and NOT",
        custom_observe=_observe_gates,
        custom_verify=_verify_gates,
    ),
    Check(
        "xor_features",
        1,
        "xor_features",
        "The feature x1*x2 appended as the third column",
        _features_cases,
        _compare_features,
    ),
    Check(
        "xor_weights_one_neuron",
        1,
        "xor_weights_one_neuron",
        "One step neuron on xor_features computing XOR",
        custom_observe=_observe_one_neuron,
        custom_verify=_verify_one_neuron,
    ),
    Check(
        "xor_two_layer",
        2,
        "xor_two_layer",
        "A two-layer step network computing XOR",
        custom_observe=_observe_two_layer,
        custom_verify=_verify_two_layer,
    ),
    Check(
        "activation",
        2,
        "activation",
        "Six activation functions, elementwise",
        _activation_cases,
        _compare_activation,
    ),
    Check(
        "activation_grad",
        2,
        "activation_grad",
        "Their exact derivatives (ReLU'(0) = 0, leaky ReLU'(0) = 0.01)",
        _activation_cases,
        _compare_activation_grad,
    ),
    Check(
        "softmax",
        2,
        "softmax",
        "Row-wise softmax, stable at logits of ±1e3",
        _softmax_cases,
        _compare_softmax,
    ),
    Check(
        "cross_entropy",
        1,
        "cross_entropy",
        "Mean cross-entropy with integer labels, clipped at 1e-7",
        _ce_cases,
        _compare_ce,
    ),
    Check(
        "mlp_forward",
        1,
        "mlp_forward",
        "Forward pass x -> tanh -> softmax of a two-layer network",
        custom_observe=_observe_forward,
        custom_verify=_verify_forward,
    ),
    Check(
        "mlp_backward",
        3,
        "mlp_backward",
        "Gradients of the mean cross-entropy by backpropagation",
        custom_observe=_observe_backward,
        custom_verify=_verify_backward,
    ),
    Check(
        "train_xor",
        3,
        "train_xor",
        f"Gradient descent to 100% on XOR from the given seed and two hidden seeds, {CPU_BUDGET:g} s per call",
        custom_observe=_observe_train,
        custom_verify=_verify_train,
        fresh=_xor_fresh,
        timing=XOR_TIMING,
    ),
]


def _warmup() -> None:
    """What the notebook's demo cells load lazily: done once, inherited by every child."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.contourf(np.zeros((2, 2)))
    plt.close(fig)


ASSIGNMENT = Assignment(
    aid=AID,
    checks=CHECKS,
    # What the notebook's own cells import: loaded once by the warm parent.
    preload=("numpy", "matplotlib", "matplotlib.pyplot", "cnn_course", "cnn_course.testing"),
    address_space_limit=True,
    default_timeout=60.0,
    warmup=_warmup,
)
