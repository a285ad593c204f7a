"""Nothing the grader enforces is a surprise (every assignment with a ``RULES`` list).

Each checks module keeps ``RULES``: for every graded function, the rules besides values that its
hidden checks enforce (what type to return, which arguments raise, when to floor, which
arguments must be accepted, a model's constraints). For every rule these tests ask: does a
visible test of the *released* notebook, marked ``# rule: <rule>``, fail at the marked lines
on the solution with just that rule broken? And do the hidden checks of that function fail on
it too (so the list is honest: a rule there is really enforced)?

The marked block of a rule is the marker line and the lines after it up to the next blank line.
"""

from __future__ import annotations

import importlib
import io
import os
import re
from contextlib import redirect_stdout
from functools import cache
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import ROOT

from autograder.core import decode, encode, load_assignment

os.environ.setdefault("MPLBACKEND", "Agg")

AIDS = ("a0_neurons", "a1_convolution", "a2_keras_cnn")
# Visible cells that train for half a minute: their rules are exercised by the cheaper cells.
SLOW_VISIBLE = {"build_cnn_learns"}


def _rules(aid: str) -> dict[str, list[str]]:
    return importlib.import_module(f"autograder.checks.{aid}").RULES


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@cache
def _release(aid: str):
    return nbformat.read(ROOT / "assignments" / aid / f"{aid}.ipynb", as_version=4)


@cache
def _base_namespace(aid: str) -> dict:
    """The release with the solution's code filled in: setup and helper cells, solution cells
    (demo cells, which only plot or train, and graded cells are left out)."""
    source = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4)
    solutions = {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("solution")}
    ns: dict = {"__name__": "__main__"}
    with redirect_stdout(io.StringIO()):
        for cell in _release(aid).cells:
            meta = _meta(cell)
            if cell.cell_type != "code" or meta.get("grade"):
                continue
            if meta.get("solution"):
                exec(compile(solutions[meta["grade_id"]], meta["grade_id"], "exec"), ns)
            elif meta.get("locked"):
                exec(compile(cell.source, meta["grade_id"], "exec"), ns)
    return ns


def _visible_cells(aid: str, function: str, include_slow: bool = False) -> list[tuple[str, str]]:
    """(grade_id, source) of the released graded cells that test ``function``, in order."""
    checks = {c.name: c for c in load_assignment(aid).checks}
    cells = []
    for cell in _release(aid).cells:
        gid = _meta(cell).get("grade_id")
        if _meta(cell).get("grade") and checks[gid].function == function:
            if include_slow or gid not in SLOW_VISIBLE:
                cells.append((gid, cell.source))
    return cells


def _run_visible(ns: dict, cells: list[tuple[str, str]]):
    """Run the cells in order; ``(grade_id, line, exception)`` of the first failure, else None."""
    for gid, src in cells:
        filename = f"<visible test {gid}>"
        try:
            with redirect_stdout(io.StringIO()):
                exec(compile(src, filename, "exec"), ns)
        except Exception as exc:  # noqa: BLE001 - any failure of a visible test
            line, tb = None, exc.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == filename:
                    line = tb.tb_lineno
                tb = tb.tb_next
            return gid, line, exc
    return None


def _marked_lines(src: str, rule: str) -> set[int]:
    lines = src.splitlines()
    marked = set()
    for i, line in enumerate(lines, start=1):
        if line.strip() == f"# rule: {rule}":
            j = i
            while j <= len(lines) and lines[j - 1].strip():
                marked.add(j)
                j += 1
    return marked


def _broken_namespace(aid: str, function: str, rule: str) -> dict:
    ns = dict(_base_namespace(aid))
    ns["_orig"] = ns[function]
    with redirect_stdout(io.StringIO()):
        exec(PRELUDE.get(aid, "") + BREAKERS[aid][function, rule], ns)
    assert ns[function] is not ns["_orig"], "the breaker must redefine the function"
    return ns


def _hidden_results(aid: str, function: str, ns: dict, skip=(), only=None) -> list:
    """The hidden checks of ``function`` (those in ``only``, if given) run on ``ns`` as
    nbgrader's harness runs them."""
    results = []
    for check in load_assignment(aid).checks:
        if check.function != function or check.name in skip:
            continue
        if only is not None and check.name not in only:
            continue
        given = kept = None
        if check.fresh is not None:
            given, kept = check.fresh(np.random.default_rng(0))
        with redirect_stdout(io.StringIO()):
            observed = decode(*encode(check.observe(ns, given)))
        results.append(check.verify(observed, kept))
    return results


# --- versions of the solution that break one rule each ------------------------------------

NOT_TILING = """
def _tiles(n, f, padding, stride, dilation=1):
    p = 0 if padding == "valid" else padding
    return padding == "same" or (n + 2 * p - dilation * (f - 1) - 1) % stride == 0
"""

PRELUDE = {
    "a1_convolution": NOT_TILING,
    "a2_keras_cnn": """
def _cnn(input_shape, num_classes, bn=True, dropout=True, softmax=True, dense=0):
    layers = [keras.Input(input_shape), keras.layers.Conv2D(16, 3, padding="same")]
    layers += [keras.layers.BatchNormalization()] if bn else []
    layers += [keras.layers.ReLU(), keras.layers.MaxPooling2D(2)]
    layers += [keras.layers.Dropout(0.25)] if dropout else []
    if dense:
        layers += [keras.layers.Flatten(), keras.layers.Dense(dense, activation="relu")]
    else:
        layers += [keras.layers.GlobalAveragePooling2D()]
    layers += [keras.layers.Dense(num_classes, activation="softmax" if softmax else None)]
    return keras.Sequential(layers)
""",
}

AS_FLOAT = """
def {fn}(*args, **kwargs):
    return float(_orig(*args, **kwargs))
"""

BREAKERS: dict[str, dict[tuple[str, str], str]] = {
    "a0_neurons": {
        ("neuron", "returns shape (N,) for x of shape (N, D)"): """
def neuron(x, w, b, activation="step"):
    return _orig(x, w, b, activation)[:, None]
""",
        ("neuron", "the step is 0 at z = 0"): """
def neuron(x, w, b, activation="step"):
    z = x @ w + b
    return (z >= 0).astype(float) if activation == "step" else _orig(x, w, b, activation)
""",
        ("gate_weights", "'not' has one input: w of shape (1,)"): """
def gate_weights(name):
    return (np.array([-1.0, 0.0]), 0.5) if name == "not" else _orig(name)
""",
        ("xor_features", "appends x1*x2 as the third column"): """
def xor_features(x):
    return np.c_[x[:, 0] * x[:, 1], x]
""",
        ("activation", "leaky_relu uses alpha = 0.01 (Keras's default is 0.2)"): """
def activation(name, z):
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, z, 0.2 * z) if name == "leaky_relu" else _orig(name, z)
""",
        ("activation_grad", "ReLU's derivative at 0 is 0"): """
def activation_grad(name, z):
    z = np.asarray(z, dtype=float)
    return (z >= 0).astype(float) if name == "relu" else _orig(name, z)
""",
        ("activation_grad", "leaky ReLU's derivative at 0 is alpha = 0.01"): """
def activation_grad(name, z):
    z = np.asarray(z, dtype=float)
    return np.where(z >= 0, 1.0, 0.01) if name == "leaky_relu" else _orig(name, z)
""",
        ("softmax", "stable for logits of ±1e3 (no NaN or inf)"): """
def softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
""",
        ("softmax", "each row sums to 1"): """
def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum(axis=0, keepdims=True)
""",
        ("cross_entropy", "returns the mean over the batch"): """
def cross_entropy(probs, y):
    return -np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1))
""",
        ("cross_entropy", "clips probabilities below at 1e-7"): """
def cross_entropy(probs, y):
    return float(-np.mean(np.log(probs[np.arange(len(y)), y])))
""",
        ("mlp_forward", "returns the tuple (probs, cache)"): """
def mlp_forward(x, params):
    return _orig(x, params)[0]
""",
        ("mlp_backward", "returns a dict with keys W1, b1, W2, b2"): """
def mlp_backward(cache, y):
    grads = _orig(cache, y)
    return [grads[k] for k in ("W1", "b1", "W2", "b2")]
""",
        ("mlp_backward", "each gradient has its parameter's shape"): """
def mlp_backward(cache, y):
    grads = _orig(cache, y)
    return {**grads, "W1": grads["W1"].T, "W2": grads["W2"].T}
""",
        ("train_xor", "returns a dict with keys W1, b1, W2, b2"): """
def train_xor(epochs, lr, seed):
    params = _orig(epochs, lr, seed)
    return tuple(params[k] for k in ("W1", "b1", "W2", "b2"))
""",
        ("train_xor", "uses the lr it is given (lr = 0 leaves the parameters unchanged)"): """
def train_xor(epochs, lr, seed):
    return _orig(epochs, 0.5, seed)
""",
        (
            "train_xor",
            "draws the initial parameters from the seed (different seeds, different starts)",
        ): """
def train_xor(epochs, lr, seed):
    return _orig(epochs, lr, 0)
""",
        ("train_xor", "at most 2 s per call, timed by the grader"): """
import time as _time


def train_xor(epochs, lr, seed):
    if epochs >= 1000:  # burn CPU past the budget
        t0 = _time.process_time()
        while _time.process_time() - t0 < 2.2:
            pass
    return _orig(epochs, lr, seed)
""",
    },
    "a1_convolution": {
        ("conv_output_size", "returns an int"): AS_FLOAT.format(fn="conv_output_size"),
        ("conv_output_size", "accepts NumPy integers for n and f"): """
def conv_output_size(n, f, padding=0, stride=1, dilation=1):
    if not isinstance(n, int) or not isinstance(f, int):
        raise TypeError("n and f must be ints")
    return _orig(n, f, padding, stride, dilation)
""",
        ("conv_output_size", "accepts padding='valid'"): """
def conv_output_size(n, f, padding=0, stride=1, dilation=1):
    if padding == "valid":
        raise ValueError("unknown padding 'valid'")
    return _orig(n, f, padding, stride, dilation)
""",
        ("conv_output_size", "floors when the stride does not tile the input (no error)"): """
def conv_output_size(n, f, padding=0, stride=1, dilation=1):
    if isinstance(stride, int) and stride >= 1 and not _tiles(n, f, padding, stride, dilation):
        raise ValueError("the stride does not tile the input")
    return _orig(n, f, padding, stride, dilation)
""",
        (
            "conv_output_size",
            "raises ValueError when the filter is larger than the padded input",
        ): """
def conv_output_size(n, f, padding=0, stride=1, dilation=1):
    if dilation == 1 and padding == 0 and f > n:
        return 0
    return _orig(n, f, padding, stride, dilation)
""",
        (
            "conv_output_size",
            "raises ValueError when the dilated filter is larger than the padded input",
        ): """
def conv_output_size(n, f, padding=0, stride=1, dilation=1):
    if dilation > 1 and padding == 0 and dilation * (f - 1) + 1 > n:
        return 0
    return _orig(n, f, padding, stride, dilation)
""",
        ("conv_output_size", "raises ValueError when stride < 1"): """
def conv_output_size(n, f, padding=0, stride=1, dilation=1):
    return n if stride < 1 else _orig(n, f, padding, stride, dilation)
""",
        ("conv_output_size", "raises ValueError when dilation < 1"): """
def conv_output_size(n, f, padding=0, stride=1, dilation=1):
    return n if dilation < 1 else _orig(n, f, padding, stride, dilation)
""",
        ("conv_output_size", "raises ValueError for a negative padding"): """
def conv_output_size(n, f, padding=0, stride=1, dilation=1):
    if isinstance(padding, int) and padding < 0:
        return (n + 2 * padding - dilation * (f - 1) - 1) // stride + 1
    return _orig(n, f, padding, stride, dilation)
""",
        ("zero_pad", "accepts pad as ((top, bottom), (left, right))"): """
def zero_pad(x, pad):
    if np.ndim(pad) != 0:
        raise TypeError("pad must be an int")
    return _orig(x, pad)
""",
        ("make_kernel", "raises ValueError for an unknown name"): """
def make_kernel(name):
    if name not in ("edge", "sharpen", "box_blur"):
        raise KeyError(name)
    return _orig(name)
""",
        ("conv2d_forward", "accepts b=None (no bias)"): """
def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
    if b is None:
        raise TypeError("unsupported operand type(s) for +=: 'float' and 'NoneType'")
    return _orig(x, w, b, stride, padding, dilation)
""",
        ("conv2d_forward", "floors when the stride does not tile the input (no error)"): """
def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
    for n, f in zip(x.shape[1:3], w.shape[:2]):
        if not _tiles(n, f, padding, stride, dilation):
            raise ValueError("the stride does not tile the input")
    return _orig(x, w, b, stride, padding, dilation)
""",
        ("conv2d_forward", "raises ValueError when x and w disagree on C_in"): """
def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
    if x.shape[-1] != w.shape[2]:
        return np.zeros((x.shape[0], 1, 1, w.shape[-1]))
    return _orig(x, w, b, stride, padding, dilation)
""",
        ("pool2d_forward", "floors when the stride does not tile the input (no error)"): """
def pool2d_forward(x, pool_size=2, stride=None, mode="max"):
    for n in x.shape[1:3]:
        if not _tiles(n, pool_size, 0, pool_size if stride is None else stride):
            raise ValueError("the stride does not tile the input")
    return _orig(x, pool_size, stride, mode)
""",
        ("im2col", "floors when the stride does not tile the input (no error)"): """
def im2col(x, f_h, f_w, stride=1):
    if not (_tiles(x.shape[1], f_h, 0, stride) and _tiles(x.shape[2], f_w, 0, stride)):
        raise ValueError("the stride does not tile the input")
    return _orig(x, f_h, f_w, stride)
""",
        ("conv2d_im2col", "accepts b=None (no bias)"): """
def conv2d_im2col(x, w, b, stride=1, padding=0):
    if b is None:
        raise TypeError("unsupported operand type(s) for +: 'float' and 'NoneType'")
    return _orig(x, w, b, stride, padding)
""",
        ("conv2d_im2col", "accepts padding='same' (TensorFlow's rule)"): """
def conv2d_im2col(x, w, b, stride=1, padding=0):
    if padding == "same":
        raise TypeError("'<' not supported between instances of 'str' and 'int'")
    return _orig(x, w, b, stride, padding)
""",
        ("conv2d_im2col", "accepts padding='valid'"): """
def conv2d_im2col(x, w, b, stride=1, padding=0):
    if padding == "valid":
        raise TypeError("'<' not supported between instances of 'str' and 'int'")
    return _orig(x, w, b, stride, padding)
""",
        ("conv2d_im2col", "floors when the stride does not tile the input (no error)"): """
def conv2d_im2col(x, w, b, stride=1, padding=0):
    for n, f in zip(x.shape[1:3], w.shape[:2]):
        if not _tiles(n, f, padding, stride):
            raise ValueError("the stride does not tile the input")
    return _orig(x, w, b, stride, padding)
""",
    },
    "a2_keras_cnn": {
        ("conv_param_count", "returns an int"): AS_FLOAT.format(fn="conv_param_count"),
        ("dense_param_count", "returns an int"): AS_FLOAT.format(fn="dense_param_count"),
        ("batchnorm_param_count", "returns a tuple (trainable, non_trainable) of two ints"): """
def batchnorm_param_count(channels):
    return tuple(float(v) for v in _orig(channels))
""",
        ("separable_conv_param_count", "returns an int"): AS_FLOAT.format(
            fn="separable_conv_param_count"
        ),
        ("receptive_field", "returns an int"): AS_FLOAT.format(fn="receptive_field"),
        ("predict_shapes", "leaves out the batch axis"): """
def predict_shapes(input_shape, spec):
    return [(None, *shape) for shape in _orig(input_shape, spec)]
""",
        ("predict_shapes", "one shape per spec entry"): """
def predict_shapes(input_shape, spec):  # bn and dropout change no shape: left out
    shapes = _orig(input_shape, spec)
    return [s for s, entry in zip(shapes, spec) if entry[0] not in ("bn", "dropout")]
""",
        ("predict_shapes", "each shape is a tuple of ints"): """
def predict_shapes(input_shape, spec):
    return [tuple(float(v) for v in shape) for shape in _orig(input_shape, spec)]
""",
        ("predict_param_count", "returns an int"): AS_FLOAT.format(fn="predict_param_count"),
        ("build_lenet", "softmax output"): """
def build_lenet(input_shape=(32, 32, 1), num_classes=10):
    model = _orig(input_shape, num_classes)
    model.layers[-1].activation = keras.activations.linear
    return model
""",
        ("build_lenet", "honours num_classes"): """
def build_lenet(input_shape=(32, 32, 1), num_classes=10):
    return _orig(input_shape, 10)
""",
        ("build_lenet", "honours input_shape"): """
def build_lenet(input_shape=(32, 32, 1), num_classes=10):
    return _orig((32, 32, 1), num_classes)
""",
        ("build_cnn", "at most 250,000 parameters at the default arguments"): """
def build_cnn(input_shape=(32, 32, 3), num_classes=10):
    return _cnn(input_shape, num_classes, dense=128)  # Flatten -> Dense(128): about 530,000
""",
        (
            "build_cnn",
            "a model Keras can save and reload in safe mode (Sequential or functional, no subclass, no Lambda)",
        ): """
class _OwnCNN(keras.Model):  # a subclass: Keras cannot load it without this class
    def __init__(self, input_shape=(32, 32, 3), num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.net = _cnn(input_shape, num_classes)

    def call(self, x, training=False):
        return self.net(x, training=training)

    def compute_output_shape(self, input_shape):
        return self.net.compute_output_shape(input_shape)


def build_cnn(input_shape=(32, 32, 3), num_classes=10):
    model = _OwnCNN(input_shape, num_classes)
    model(np.zeros((1, *input_shape), "float32"))
    return model
""",
        ("build_cnn", "has a BatchNormalization layer"): """
def build_cnn(input_shape=(32, 32, 3), num_classes=10):
    return _cnn(input_shape, num_classes, bn=False)
""",
        ("build_cnn", "has a Dropout layer"): """
def build_cnn(input_shape=(32, 32, 3), num_classes=10):
    return _cnn(input_shape, num_classes, dropout=False)
""",
        ("build_cnn", "softmax output of shape (None, num_classes)"): """
def build_cnn(input_shape=(32, 32, 3), num_classes=10):
    return _cnn(input_shape, num_classes, softmax=False)
""",
        ("build_cnn", "honours input_shape"): """
def build_cnn(input_shape=(32, 32, 3), num_classes=10):
    return _cnn((32, 32, 3), num_classes, dense=16)
""",
        ("build_cnn", "honours num_classes"): """
def build_cnn(input_shape=(32, 32, 3), num_classes=10):
    return _cnn(input_shape, 10)
""",
    },
}

# Later assignments keep their breakers in tests/rules_<aid>.py (BREAKERS; optional PRELUDE, and
# SLOW: the names of checks that train, as SLOW_VISIBLE).
for _path in sorted(Path(__file__).parent.glob("rules_a*.py")):
    _module = importlib.import_module(_path.stem)
    _aid = _path.stem.removeprefix("rules_")
    AIDS += (_aid,)
    BREAKERS[_aid] = _module.BREAKERS
    PRELUDE[_aid] = getattr(_module, "PRELUDE", "")
    SLOW_VISIBLE |= set(getattr(_module, "SLOW", ()))  # checks that train: run only when needed

RULE_CASES = [
    pytest.param(aid, function, rule, id=f"{aid[:2]}-{function}-{re.sub(r'[^a-z0-9]+', '_', rule)}")
    for aid in AIDS
    for function, rules in _rules(aid).items()
    for rule in rules
]
FUNCTIONS = [(aid, function) for aid in AIDS for function in _rules(aid)]


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("aid", AIDS)
def test_every_rule_has_a_breaker(aid):
    """Does each rule of RULES have a version of the solution that breaks it (and no stale ones)?"""
    rules = {(fn, rule) for fn, rs in _rules(aid).items() for rule in rs}
    assert rules == set(BREAKERS[aid])


@pytest.mark.parametrize("aid", AIDS)
def test_rules_name_graded_functions(aid):
    """Is every function in RULES graded by a check, and every marker in the release a rule?"""
    functions = {c.function for c in load_assignment(aid).checks}
    assert set(_rules(aid)) <= functions
    rules = {rule for rs in _rules(aid).values() for rule in rs}
    for cell in _release(aid).cells:
        if cell.cell_type != "code":
            continue
        for marker in re.findall(r"^\s*# rule: (.*)$", cell.source, flags=re.M):
            assert marker.strip() in rules, (_meta(cell).get("grade_id"), marker)


@pytest.mark.parametrize("aid,function", FUNCTIONS)
def test_solution_passes_its_visible_tests(aid, function):
    """Does the solution pass the visible tests that the rules of this function are checked with?"""
    failure = _run_visible(dict(_base_namespace(aid)), _visible_cells(aid, function))
    assert failure is None, failure


@pytest.mark.parametrize("aid,function,rule", RULE_CASES)
def test_visible_test_catches_the_broken_rule(aid, function, rule, tmp_path, monkeypatch):
    """Does a visible test, at the lines marked with this rule, fail on the solution with just
    this rule broken, and do the hidden checks of the function fail on it too?"""
    monkeypatch.chdir(tmp_path)  # a check may write files (a saved model) where it runs
    cells = _visible_cells(aid, function)
    marked = {gid: _marked_lines(src, rule) for gid, src in cells}
    assert any(marked.values()), f"no visible test of {function} is marked '# rule: {rule}'"

    failure = _run_visible(_broken_namespace(aid, function, rule), cells)
    assert failure is not None, f"the visible tests of {function} pass with '{rule}' broken"
    gid, line, exc = failure
    assert line in marked[gid], (
        f"the visible tests failed in {gid} at line {line}, outside the lines marked "
        f"'# rule: {rule}' {sorted(marked[gid])}: {type(exc).__name__}: {exc}"
    )

    # The slow checks (training) run only when no other check of the function fails.
    results = _hidden_results(aid, function, _broken_namespace(aid, function, rule), SLOW_VISIBLE)
    if all(r.passed for r in results):
        ns = _broken_namespace(aid, function, rule)
        results += _hidden_results(aid, function, ns, only=SLOW_VISIBLE)
    assert not all(r.passed for r in results), f"no hidden check of {function} enforces '{rule}'"
    assert not any("could not read" in r.message for r in results), results  # a grader crash


@pytest.mark.parametrize("aid,function", FUNCTIONS)
def test_solution_passes_its_hidden_checks(aid, function, tmp_path, monkeypatch):
    """Does the solution pass the hidden checks of each function with rules (so that a failure
    above comes from the broken rule, not from this way of running the checks)?"""
    monkeypatch.chdir(tmp_path)
    results = _hidden_results(aid, function, dict(_base_namespace(aid)), skip=SLOW_VISIBLE)
    assert results and all(r.passed for r in results), [r.message for r in results]


# --- points --------------------------------------------------------------------------------


@pytest.mark.parametrize("aid", AIDS)
def test_headings_show_the_points(aid):
    """Does each section heading state the points of the graded cells below it, and the header
    the total, as the grader counts them?"""
    assignment = load_assignment(aid)
    points = {c.name: c.points for c in assignment.checks}
    sections: list[tuple[str, float, float]] = []  # heading, stated, graded
    for cell in _release(aid).cells:
        meta = _meta(cell)
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            heading = cell.source.splitlines()[0]
            stated = re.search(r"\((\d+) points?\b", heading)
            sections.append((heading, float(stated.group(1)) if stated else 0.0, 0.0))
        elif meta.get("grade") and cell.cell_type == "code":
            assert meta["points"] == points[meta["grade_id"]], meta["grade_id"]
            heading, stated, graded = sections[-1]
            sections[-1] = (heading, stated, graded + meta["points"])
    for heading, stated, graded in sections:
        assert stated == graded, f"{heading!r} states {stated:g} points, its cells give {graded:g}"
    header = _release(aid).cells[0].source
    assert f"{assignment.max_score:g} points" in header
