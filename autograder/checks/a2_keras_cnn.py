"""Hidden checks of a2_keras_cnn: shapes, parameter counts and CNNs in Keras.

Everything is graded by behaviour. Formulas are compared with what Keras itself
reports for the same layer or model; ``build_from_spec`` and ``build_lenet``
are checked through output shapes, ``count_params``, and outputs on fixed
inputs after the same deterministic weights are copied into the weighted
layers in order (so ``Conv2D(activation="tanh")`` or a separate ``Activation``
layer, Sequential, functional or subclassed models all pass); ``build_cnn`` is
trained for a fixed small budget on a hidden split of the shapes data.

Inputs and weights are generated here with NumPy (identical on both sides);
the child observes plain data (shapes, counts, outputs, predicted
probabilities); expected values and the known wrong variants come from
:mod:`autograder.reference.keras_cnn`, imported only where points are decided.
No TensorFlow op runs in the grading parent before the children are forked.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from autograder.core import Assignment, Case, Check, compare_array, describe_exception
from autograder.keras_models import load_model_safely, model_bytes

AID = "a2_keras_cnn"

# build_cnn's training budget (stated in the notebook, so students know what is asked).
CNN_BUDGET = 250_000
LEARN_INPUT = (16, 16, 3)
LEARN_CLASSES = ("square", "cross", "bar", "ring")
LEARN_TRAIN, LEARN_TEST = 1500, 500
LEARN_EPOCHS, LEARN_BATCH, LEARN_RATE = 3, 32, 3e-3
LEARN_THRESHOLD = 0.60
_INIT_SEED = 60417  # weights' initialisation; the data split is made fresh by the grader
_CALIBRATION = 512  # training images used to re-estimate batch-norm statistics


def _ref():
    from autograder.reference import keras_cnn

    return keras_cnn


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(20261124 + seed)


# --- int formulas ---------------------------------------------------------------------


def _int_compare(expected, variants=()):
    """``compare`` for int-returning functions: Keras's number, then named mistakes."""

    def compare(case: Case, got) -> str | None:
        value = got["value"]
        want = expected(*case.args, **case.kwargs)
        if value == want:
            return None
        for explanation, variant in variants:
            try:
                wrong = variant(*case.args, **case.kwargs)
            except Exception:  # noqa: BLE001 - a variant that does not apply
                continue
            if wrong != want and value == wrong:
                return f"returned {value}: {explanation}"
        return f"returned {value}, which is not what Keras counts"

    return compare


def _kernel_arg(rng: np.random.Generator):
    kh, kw = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    return kh if rng.random() < 0.4 else (kh, kw)


@cache
def _conv_cases() -> list[Case]:
    cases = [
        Case((5, 3, 10), {}, "kernel_size=5, c_in=3, filters=10"),
        Case(((3, 1), 16, 8), {}, "kernel_size=(3, 1), c_in=16, filters=8"),
        Case(
            (3, 64, 32), {"use_bias": False}, "kernel_size=3, c_in=64, filters=32, use_bias=False"
        ),
        Case((1, 256, 64), {}, "kernel_size=1 (a 1x1 convolution), c_in=256, filters=64"),
    ]
    rng = _rng(1)
    for _ in range(12):
        k, c, f, b = (
            _kernel_arg(rng),
            int(rng.integers(1, 130)),
            int(rng.integers(1, 130)),
            bool(rng.random() < 0.7),
        )
        cases.append(Case((k, c, f), {"use_bias": b}, f"kernel_size={k!r}, c_in={c}, filters={f}, use_bias={b}"))  # fmt: skip
    return cases


def _conv_compare(case, got):
    ref = _ref()
    return _int_compare(
        ref.keras_conv_params,
        [
            ("the bias is forgotten: a Conv2D layer has one bias per filter", lambda k, c, f, use_bias=True: ref.conv_params(k, c, f, False)),
            ("the bias is counted although use_bias=False", lambda k, c, f, use_bias=True: ref.conv_params(k, c, f, True)),
            ("the input channels are missing: each filter spans all c_in channels (kh * kw * c_in weights)", lambda k, c, f, use_bias=True: ref.conv_params(k, c, f, use_bias, forget_channels=True)),
            ("one bias per input channel instead of one per filter", lambda k, c, f, use_bias=True: ref.conv_params(k, c, f, False) + (c if use_bias else 0)),
            ("a (kh, kw) kernel was treated as square", lambda k, c, f, use_bias=True: ref.conv_params(k if np.ndim(k) == 0 else k[0], c, f, use_bias)),
        ],
    )(case, got)  # fmt: skip


@cache
def _dense_cases() -> list[Case]:
    cases = [
        Case((640 * 480 * 3, 10), {}, "a 640x480 RGB image into 10 units"),
        Case((400, 120), {}, "n_in=400, units=120"),
        Case((84, 10), {"use_bias": False}, "n_in=84, units=10, use_bias=False"),
    ]
    rng = _rng(2)
    for _ in range(8):
        n, u, b = int(rng.integers(1, 5000)), int(rng.integers(1, 600)), bool(rng.random() < 0.7)
        cases.append(Case((n, u), {"use_bias": b}, f"n_in={n}, units={u}, use_bias={b}"))
    return cases


def _dense_compare(case, got):
    ref = _ref()
    return _int_compare(
        ref.keras_dense_params,
        [
            ("the bias is forgotten: a Dense layer has one bias per unit", lambda n, u, use_bias=True: n * u),
            ("the bias is counted although use_bias=False", lambda n, u, use_bias=True: n * u + u),
            ("one bias per input instead of one per unit", lambda n, u, use_bias=True: n * u + (n if use_bias else 0)),
        ],
    )(case, got)  # fmt: skip


@cache
def _bn_cases() -> list[Case]:
    return [Case((c,), {}, f"channels={c}") for c in (1, 6, 32, 64, 3, 250, 17)]


def _bn_compare(case: Case, got) -> str | None:
    values = got["value"]
    if len(values) != 2:
        return f"returned a tuple of {len(values)} items; return (trainable, non_trainable)"
    for item in values:
        if "bad_type" in item:
            return f"the tuple {item['bad_type'].replace('returned', 'holds')}"
    pair = (values[0]["value"], values[1]["value"])
    c = case.args[0]
    want = _ref().keras_batchnorm_params(c)
    if pair == want:
        return None
    known = {
        (
            4 * c,
            0,
        ): "the moving mean and variance are counted as trainable: they are updated by exponential smoothing, not by gradients, so Keras lists them as non-trainable",
        (
            2 * c,
            0,
        ): "the moving mean and variance are not counted: Keras stores them as non-trainable parameters",
        (
            c,
            c,
        ): "one trainable and one non-trainable number per channel: BN learns gamma and beta and keeps a moving mean and variance",
        (0, 4 * c): "gamma and beta are trainable: they are learned by gradient descent",
    }
    return f"returned {pair}: " + known.get(
        pair, "not what Keras counts as (trainable, non-trainable)"
    )


@cache
def _separable_cases() -> list[Case]:
    cases = [
        Case((3, 32, 64), {}, "kernel_size=3, c_in=32, filters=64"),
        Case(
            (3, 16, 32),
            {"depth_multiplier": 2},
            "kernel_size=3, c_in=16, filters=32, depth_multiplier=2",
        ),
        Case(
            ((5, 3), 8, 8),
            {"use_bias": False},
            "kernel_size=(5, 3), c_in=8, filters=8, use_bias=False",
        ),
    ]
    rng = _rng(3)
    for _ in range(10):
        k, c, f = _kernel_arg(rng), int(rng.integers(1, 100)), int(rng.integers(1, 100))
        dm, b = int(rng.integers(1, 4)), bool(rng.random() < 0.7)
        cases.append(Case((k, c, f), {"depth_multiplier": dm, "use_bias": b}, f"kernel_size={k!r}, c_in={c}, filters={f}, depth_multiplier={dm}, use_bias={b}"))  # fmt: skip
    return cases


def _separable_compare(case, got):
    ref = _ref()
    return _int_compare(
        ref.keras_separable_params,
        [
            ("the bias is forgotten: the pointwise convolution has one bias per filter", lambda k, c, f, depth_multiplier=1, use_bias=True: ref.separable_params(k, c, f, depth_multiplier, False)),
            ("the bias is counted although use_bias=False", lambda k, c, f, depth_multiplier=1, use_bias=True: ref.separable_params(k, c, f, depth_multiplier, True)),
            ("depth_multiplier is ignored: the depthwise step makes c_in * depth_multiplier channels", lambda k, c, f, depth_multiplier=1, use_bias=True: ref.separable_params(k, c, f, depth_multiplier, use_bias, ignore_multiplier=True)),
            ("that is the count of an ordinary Conv2D; a separable convolution is depthwise (kh * kw * c_in * depth_multiplier) then pointwise (1x1)", lambda k, c, f, depth_multiplier=1, use_bias=True: ref.conv_params(k, c, f, use_bias)),
            ("a bias was added to the depthwise step too; Keras's SeparableConv2D has one bias vector, after the pointwise step", lambda k, c, f, depth_multiplier=1, use_bias=True: ref.separable_params(k, c, f, depth_multiplier, use_bias, depthwise_bias=True)),
        ],
    )(case, got)  # fmt: skip


# --- receptive field ---------------------------------------------------------------------


@cache
def _rf_cases() -> list[Case]:
    cases = [
        Case(([],), {}, "no layers"),
        Case(([(3, 1, 1), (3, 1, 1)],), {}, "two 3x3 convolutions"),
        Case(([(3, 1, 1), (2, 2, 1), (3, 1, 1)],), {}, "conv 3x3, pool 2 stride 2, conv 3x3"),
        Case(
            ([(3, 1, 1), (3, 1, 2), (3, 1, 4)],),
            {},
            "three 3x3 convolutions with dilations 1, 2, 4",
        ),
        Case(
            ([(7, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1)],),
            {},
            "a ResNet-like stem: 7x7/2, pool 3/2, two 3x3",
        ),
    ]
    rng = _rng(4)
    for _ in range(10):
        layers = []
        for _ in range(int(rng.integers(2, 7))):
            d = int(rng.choice([1, 1, 2, 3]))
            s = 1 if d > 1 else int(rng.choice([1, 1, 2, 3]))
            layers.append((int(rng.choice([1, 2, 3, 5, 7])), s, d))
        cases.append(
            Case((layers,), {}, f"{len(layers)} layers (kernel, stride, dilation) = {layers}")
        )
    return cases


def _rf_compare(case, got):
    ref = _ref()
    return _int_compare(
        ref.receptive_field,
        [
            ("the strides are ignored: after a stride-s layer every later kernel step covers s input pixels", lambda layers: ref.receptive_field(layers, ignore_stride=True)),
            ("each layer's own stride is multiplied in; only the strides of the layers before it scale its kernel", lambda layers: ref.receptive_field(layers, own_stride=True)),
            ("the dilations are ignored: a k-wide kernel with dilation d spans d(k - 1) + 1 pixels", lambda layers: ref.receptive_field(layers, ignore_dilation=True)),
            ("the kernel sizes were added: stacking two k-wide layers adds k - 1, not k", lambda layers: ref.receptive_field(layers, sum_kernels=True)),
        ],
    )(case, got)  # fmt: skip


# --- specs ------------------------------------------------------------------------------


def _out(n: int, k: int, s: int, padding: str, d: int = 1) -> int:
    if padding == "same":
        return -(-n // s)
    return (n - d * (k - 1) - 1) // s + 1


def _random_spec(rng: np.random.Generator) -> tuple[tuple[int, int, int], list[tuple]]:
    """A valid random spec: conv blocks (stride, padding, dilation, bn, pool, dropout), then a head."""
    h0, w0 = int(rng.integers(10, 41)), int(rng.integers(10, 41))
    h, w = h0, w0
    spec: list[tuple] = []
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.choice([1, 2, 3, 5]))
        padding = str(rng.choice(["valid", "same"]))
        d = int(rng.choice([2, 3])) if rng.random() < 0.3 else 1
        s = 1 if d > 1 else int(rng.choice([1, 1, 2, 3]))
        if min(_out(h, k, s, padding, d), _out(w, k, s, padding, d)) < 2:
            k, s, d, padding = 3, 1, 1, "same"
        spec.append(("conv", int(rng.integers(2, 17)), k, s, padding, d))
        h, w = _out(h, k, s, padding, d), _out(w, k, s, padding, d)
        if rng.random() < 0.4:
            spec.append(("bn",))
        p, ps = int(rng.choice([2, 3])), int(rng.choice([1, 2, 2, 3]))
        if rng.random() < 0.6 and min(h, w) >= p:
            spec.append(("pool", p, ps))
            h, w = _out(h, p, ps, "valid"), _out(w, p, ps, "valid")
        if rng.random() < 0.3:
            spec.append(("dropout", float(rng.choice([0.1, 0.25, 0.5]))))
    spec.append(("flatten",) if rng.random() < 0.5 else ("gap",))
    for _ in range(int(rng.integers(0, 3))):
        if rng.random() < 0.3:
            spec.append(("bn",) if rng.random() < 0.5 else ("dropout", 0.5))
        spec.append(("dense", int(rng.integers(2, 65))))
    return (h0, w0, int(rng.choice([1, 3, 4]))), spec


def _spec_label(input_shape, spec) -> str:
    return f"input {tuple(input_shape)}, spec {spec}"


LENET_SPEC = [
    ("conv", 6, 5, 1, "valid", 1),
    ("pool", 2, 2),
    ("conv", 16, 5, 1, "valid", 1),
    ("pool", 2, 2),
    ("flatten",),
    ("dense", 120),
    ("dense", 84),
]

# Hand-made specs that separate the usual mistakes: same vs valid, stride, dilation, floor.
_NAMED_SPECS = [
    ((32, 32, 3), [("conv", 10, 5, 1, "same", 1)], "the lecture's 32x32x3 with ten 5x5 filters, 'same'"),
    ((32, 32, 1), LENET_SPEC, "LeNet-5 without its softmax layer"),
    ((28, 28, 1), [("conv", 8, 3, 2, "valid", 1), ("pool", 2, 2), ("flatten",), ("dense", 10)], "stride 2, then pooling an odd size"),
    ((15, 15, 3), [("conv", 4, 3, 2, "same", 1), ("pool", 3, 2), ("gap",)], "'same' with stride 2 on an odd size"),
    ((20, 24, 3), [("conv", 6, 3, 1, "valid", 2), ("bn",), ("conv", 6, 3, 1, "same", 3), ("flatten",)], "dilated convolutions, non-square input"),
    ((16, 16, 3), [("conv", 8, 3, 1, "same", 1), ("bn",), ("dropout", 0.25), ("pool", 2, 2), ("conv", 16, 3, 1, "same", 1), ("gap",), ("dense", 32), ("bn",), ("dense", 4)], "conv-bn-dropout-pool blocks, dense head with bn"),
]  # fmt: skip


@cache
def _spec_cases() -> list[Case]:
    cases = [Case((shape, spec), {}, label) for shape, spec, label in _NAMED_SPECS]
    rng = _rng(5)
    for _ in range(10):
        shape, spec = _random_spec(rng)
        cases.append(Case((shape, spec), {}, _spec_label(shape, spec)))
    return cases


def _shape_variants() -> list[tuple[str, dict]]:
    """Shape mistakes and the formula flags that reproduce them."""
    return [
        ("pooling rounds up; MaxPooling2D with padding='valid' rounds down: floor((n - p) / s) + 1", dict(pool_ceil=True)),
        ("padding='same' is ignored: 'same' gives ceil(n / stride), the kernel does not shrink the output", dict(ignore_padding=True)),
        ("'same' must still divide by the stride: ceil(n / stride)", dict(same_keeps_size=True)),
        ("the strides are ignored", dict(ignore_stride=True)),
        ("the dilation is ignored: a k-wide kernel with dilation d spans d(k - 1) + 1 pixels", dict(ignore_dilation=True)),
    ]  # fmt: skip


def _shapes_compare(case: Case, got) -> str | None:
    value = [tuple(s) for s in got["value"]]
    input_shape, spec = case.args
    variants, ref = _shape_variants(), _ref()
    want = ref.keras_spec_shapes(input_shape, spec)
    if value == want:
        return None
    if len(value) != len(want):
        return f"returned {len(value)} shapes for {len(spec)} layers; return one per layer"
    if any(len(s) and s[0] is None for s in value):
        return "the shapes include the batch axis (None); leave it out"
    if value and value[0] == tuple(input_shape):
        return "the first shape is the input's; return the shape after each layer"
    for explanation, flags in variants:
        if value == ref.spec_shapes(input_shape, spec, **flags):
            return explanation
    first = next(i for i, (a, b) in enumerate(zip(value, want, strict=True)) if a != b)
    return f"the shape after layer {first + 1} {spec[first]!r} is {value[first]}, which is not what Keras reports"


def _count_compare(case: Case, got) -> str | None:
    value = got["value"]
    input_shape, spec = case.args
    variants, ref = _shape_variants(), _ref()
    want = ref.keras_spec_param_count(input_shape, spec)
    if value == want:
        return None
    named = [
        ("batch normalization counted as 2 parameters per channel; Keras's count_params() adds the moving mean and variance (4 per channel, 2 non-trainable)", dict(bn_trainable_only=True)),
        ("the biases of the conv and dense layers are missing", dict(no_bias=True)),
    ] + [(f"the shapes behind it are off: {explanation}", flags) for explanation, flags in variants]  # fmt: skip
    for explanation, flags in named:
        if ref.spec_param_count(input_shape, spec, **flags) == value != want:
            return f"returned {value}: {explanation}"
    return f"returned {value}, which is not what Keras's count_params() says"


# --- models: observed in the child through Keras, as plain data -------------------------


def _fixed_input(shape, seed: int, batch: int = 2) -> np.ndarray:
    return _rng(100 + seed).uniform(0.0, 1.0, size=(batch, *shape)).astype(np.float32)


def _is_variance(variable) -> bool:
    return "variance" in str(getattr(variable, "path", getattr(variable, "name", "")))


def weights_for(shapes: list, variance: list, seed: int) -> list[np.ndarray]:
    """Deterministic weights for a model's weight list (identical in both processes).

    Kernels are scaled by 1/sqrt(fan-in) so activations stay in range; vectors
    are uniform in [-0.5, 0.5], except moving variances, which must be positive.
    """
    out = []
    for i, (shape, is_var) in enumerate(zip(shapes, variance, strict=True)):
        rng = _rng(1000 * seed + i)
        shape = tuple(int(v) for v in shape)
        if len(shape) >= 2:
            w = rng.normal(0.0, 1.0, shape) / math.sqrt(max(1, math.prod(shape[:-1])))
        elif is_var:
            w = rng.uniform(0.5, 1.5, shape)
        else:
            w = rng.uniform(-0.5, 0.5, shape)
        out.append(w.astype(np.float32))
    return out


def _all_layers(model) -> list:
    """Every layer inside ``model``, nested models and custom layers included."""
    flatten = getattr(model, "_flatten_layers", None)
    if callable(flatten):
        return list(flatten(include_self=False, recursive=True))
    found, todo = [], list(getattr(model, "layers", []))
    while todo:
        layer = todo.pop()
        found.append(layer)
        todo.extend(getattr(layer, "layers", []))
    return found


def _size(variables) -> int:
    return int(sum(math.prod(int(v) for v in w.shape) for w in variables))


def _weight_layout(model) -> tuple[list[list[int]], list[bool]]:
    """Shapes of ``model.weights`` in order, and which of them are moving variances."""
    shapes = [[int(v) for v in w.shape] for w in model.weights]
    return shapes, [_is_variance(w) for w in model.weights]


def _case_input_shape(case: Case) -> tuple:
    """The input shape a model-building case asks for (LeNet's default when it has no arguments)."""
    return tuple(case.args[0]) if case.args else (32, 32, 1)


def _observe_model(model, x: np.ndarray, seed: int) -> dict:
    """Output, parameters and weight layout of a student's model; outputs again after
    copying the grader's weights into it. Plain data only."""
    import keras

    if not isinstance(model, keras.Model):
        return {"error": f"returned a {type(model).__name__}; return a keras.Model"}
    raw = np.asarray(model(x, training=False), dtype=np.float64)
    shapes, variance = _weight_layout(model)
    obs = {
        "shape": list(raw.shape),
        "raw": raw,
        "params": _size(model.weights),
        "trainable": _size(model.trainable_weights),
        "weights": shapes,
    }
    try:
        model.set_weights(weights_for(shapes, variance, seed))
        obs["outputs"] = np.asarray(model(x, training=False), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - reported by the verifier
        obs["set_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return obs


def _model_cases(fn, cases: list[Case]) -> dict:
    results = []
    for i, case in enumerate(cases):
        try:
            model = fn(*case.args, **case.kwargs)
            results.append(_observe_model(model, _fixed_input(_case_input_shape(case), i), i))
        except BaseException as exc:  # noqa: BLE001 - student code
            results.append({"error": describe_exception(exc)})
    return {"cases": results}


@cache
def _reference_facts(kind: str, case_index: int, variant: str = "") -> dict:
    """Shapes, counts and outputs of the reference model for one case (parent only)."""
    ref = _ref()
    if kind == "spec":
        case = _spec_cases()[case_index]
        model = ref.build_spec_model(*case.args, relu=variant != "no_relu")
    else:
        case = _lenet_cases()[case_index]
        flags = {"max": dict(pool="max"), "relu": dict(activation="relu")}.get(variant, {})
        model = ref.build_lenet(*case.args, **case.kwargs, **flags)
    x = _fixed_input(_case_input_shape(case), case_index)
    shapes, variance = _weight_layout(model)
    outputs = ref.outputs_with_weights(model, weights_for(shapes, variance, case_index), x)
    return {
        "shape": list(outputs.shape),
        "params": int(model.count_params()),
        "trainable": _size(model.trainable_weights),
        "weights": shapes,
        "outputs": outputs,
    }


def _compare_model(
    kind: str,
    index: int,
    got: dict,
    shape_problem,
    count_problem,
    variants: list[tuple[str, str]],
    softmax: bool = False,
) -> str | None:
    """Shape, softmax rows (when asked), parameter counts, weight layout, then outputs with
    the grader's weights."""
    if "error" in got:
        return str(got["error"])
    want = _reference_facts(kind, index)
    if got["shape"] != want["shape"]:
        return shape_problem(tuple(got["shape"]))
    if softmax and not _softmax_rows(got["raw"]):
        return _NOT_SOFTMAX
    if got["params"] != want["params"]:
        return count_problem(got["params"], want["params"])
    if got["trainable"] != want["trainable"]:
        return f"{got['trainable']:,} of {got['params']:,} parameters are trainable, which is not what Keras gives for this model (a frozen layer, or batch-norm statistics made trainable?)"
    if got["weights"] != want["weights"]:
        return "the parameter count is right but the weighted layers are not in the expected order or of the expected kind; compare your model.summary() with the description"
    if "set_error" in got:
        return f"the grader could not copy weights into the model ({got['set_error']})"
    mistakes = [
        (text, lambda v=v: _reference_facts(kind, index, v)["outputs"]) for text, v in variants
    ]
    problem = compare_array(
        np.asarray(got["outputs"], dtype=np.float64), want["outputs"], mistakes, rtol=1e-3
    )
    if problem is None:
        return None
    return f"with the grader's weights copied in, the outputs differ from the reference: {problem}"


_NOT_SOFTMAX = 'the outputs are not probabilities (each row should be >= 0 and sum to 1): end with Dense(num_classes, activation="softmax")'


def _softmax_rows(out) -> bool:
    out = np.asarray(out, dtype=np.float64)
    if out.ndim != 2 or not np.all(np.isfinite(out)):
        return False
    return bool(np.all(out >= -1e-6) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4))


def _verify_cases(function: str, cases: list[Case], observed: dict, problem) -> tuple[bool, str]:
    got_all = observed["cases"]
    if not isinstance(got_all, list) or len(got_all) != len(cases):
        raise ValueError("wrong number of cases")
    for i, (case, got) in enumerate(zip(cases, got_all, strict=True)):
        message = problem(i, got)
        if message:
            return (
                False,
                f"`{function}` failed on case {i + 1} of {len(cases)} ({case.label}): {message}",
            )
    return True, f"`{function}`: all {len(cases)} models behave like the reference"


# build_from_spec


def _spec_problem(i: int, got: dict) -> str | None:
    input_shape, spec = _spec_cases()[i].args
    variants, ref = _shape_variants(), _ref()

    def shape_problem(shape):
        for explanation, flags in variants:
            if shape[1:] == ref.spec_shapes(input_shape, spec, **flags)[-1]:
                return (
                    f"the output shape {shape[1:]} (without the batch axis) is off: {explanation}"
                )
        return f"the output shape {shape[1:]} (without the batch axis) is not what this spec gives"

    def count_problem(got_count, want):
        if ref.spec_param_count(input_shape, spec, no_bias=True) == got_count:
            return f"{got_count:,} parameters: the conv and dense layers have no bias (keep Keras's use_bias=True)"
        return f"{got_count:,} parameters, which is not what this spec gives"

    return _compare_model(
        "spec", i, got, shape_problem, count_problem,
        [("the ReLU after the conv and dense layers is missing", "no_relu")],
    )  # fmt: skip


def _spec_observe(namespace: dict):
    return _model_cases(namespace["build_from_spec"], _spec_cases())


def _spec_verify(observed: dict) -> tuple[bool, str]:
    return _verify_cases("build_from_spec", _spec_cases(), observed, _spec_problem)


# build_lenet


@cache
def _lenet_cases() -> list[Case]:
    return [
        Case((), {}, "the defaults: input_shape=(32, 32, 1), num_classes=10"),
        Case(((28, 28, 1), 5), {}, "input_shape=(28, 28, 1), num_classes=5"),
        Case(((32, 32, 3), 4), {}, "input_shape=(32, 32, 3), num_classes=4"),
    ]


def _lenet_problem(i: int, got: dict) -> str | None:
    case = _lenet_cases()[i]
    classes = case.args[1] if case.args else 10

    def shape_problem(shape):
        return f"the output shape for a batch of 2 is {shape}, expected (2, {classes}): honour input_shape and num_classes"

    def count_problem(got_count, want):
        if not case.args:
            return f"{got_count:,} parameters; LeNet-5 has 61,706 (check the kernel sizes, filters, units and padding='valid')"
        return f"{got_count:,} parameters, which is not LeNet-5's count for these arguments (use input_shape and num_classes)"

    return _compare_model(
        "lenet", i, got, shape_problem, count_problem,
        [("max pooling where LeNet averages (AveragePooling2D)", "max"),
         ("ReLU where LeNet uses tanh", "relu")],
        softmax=True,
    )  # fmt: skip


def _lenet_observe(namespace: dict):
    return _model_cases(namespace["build_lenet"], _lenet_cases())


def _lenet_verify(observed: dict) -> tuple[bool, str]:
    return _verify_cases("build_lenet", _lenet_cases(), observed, _lenet_problem)


# build_cnn


def _cnn_facts(model, input_shape) -> dict:
    """Facts of a model the grader loaded itself (never the child's word for them)."""
    import keras

    if isinstance(model, str):
        return {"error": model}
    out = np.asarray(
        model(_fixed_input(input_shape, 50, batch=4), training=False), dtype=np.float64
    )
    layers = _all_layers(model)
    return {
        "shape": list(out.shape),
        "out": out,
        "params": _size(model.weights),
        "bn": any(isinstance(layer, keras.layers.BatchNormalization) for layer in layers),
        "dropout": any(isinstance(layer, keras.layers.Dropout) for layer in layers),
    }


def cnn_problems(facts: dict, classes: int, budget: bool = True) -> list[str]:
    """What keeps a ``build_cnn`` model from the assignment's constraints (empty: none)."""
    if "error" in facts:
        return [str(facts["error"])]
    problems = []
    if facts["shape"] != [4, classes]:
        problems.append(
            f"gives the output shape {tuple(facts['shape'])} for a batch of 4, expected (4, {classes})"
        )
    elif not _softmax_rows(facts["out"]):
        problems.append(_NOT_SOFTMAX)
    if budget and facts["params"] > CNN_BUDGET:
        problems.append(f"has {facts['params']:,} parameters, over the budget of {CNN_BUDGET:,}")
    if not facts["bn"]:
        problems.append("has no BatchNormalization layer")
    if not facts["dropout"]:
        problems.append("has no Dropout layer")
    return problems


def _cnn_design_observe(namespace: dict):
    import keras

    keras.utils.set_random_seed(7)
    return model_bytes(namespace["build_cnn"](), "build_cnn")


def _cnn_design_verify(observed: dict) -> tuple[bool, str]:
    facts = _cnn_facts(load_model_safely(observed, "build_cnn"), (32, 32, 3))
    problems = cnn_problems(facts, 10)
    if problems:
        return False, "`build_cnn()` " + "; ".join(problems)
    return True, (
        f"`build_cnn()`: {facts['params']:,} parameters (budget {CNN_BUDGET:,}), "
        "batch normalization, dropout and a softmax output"
    )


def learn_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A split of the shapes data that ``build_cnn`` is trained and tested on."""
    from cnn_course.data import load_shapes

    x, y = load_shapes(
        LEARN_TRAIN + LEARN_TEST, size=LEARN_INPUT[0], seed=seed, classes=LEARN_CLASSES
    )
    return x[:LEARN_TRAIN], y[:LEARN_TRAIN], x[LEARN_TRAIN:], y[LEARN_TRAIN:]


def _learn_fresh(rng: np.random.Generator):
    """A split made fresh for each grading run by the grader: the child gets the training
    images with their labels and the test images without theirs."""
    x_train, y_train, x_test, y_test = learn_data(int(rng.integers(2**62)))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test}, {"y_test": y_test}


def recalibrate_batchnorm(model, x: np.ndarray) -> int:
    """Set every BatchNormalization layer's moving statistics to those of ``x``.

    One forward pass in training mode with momentum 0: Keras's default momentum
    (0.99) needs hundreds of steps before the moving averages settle, far more
    than a short grading budget gives.
    """
    import keras

    layers = [la for la in _all_layers(model) if isinstance(la, keras.layers.BatchNormalization)]
    saved = [la.momentum for la in layers]
    for layer in layers:
        layer.momentum = 0.0
    try:
        model(x, training=True)
    finally:
        for layer, momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum
    return len(layers)


def _cnn_learn_observe(namespace: dict, given: dict):
    import keras

    build = namespace["build_cnn"]
    keras.utils.set_random_seed(7)
    observed: dict = {"design": model_bytes(build(), "build_cnn")}
    keras.utils.set_random_seed(_INIT_SEED)
    model = build(input_shape=LEARN_INPUT, num_classes=len(LEARN_CLASSES))
    observed["small"] = model_bytes(model, "build_cnn")
    if "error" in observed["design"] or "error" in observed["small"]:
        return observed  # the verifier says why it was not trained
    x_train, y_train = np.array(given["x_train"]), np.array(given["y_train"])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARN_RATE),
        loss="sparse_categorical_crossentropy",
    )
    history = model.fit(
        x_train, y_train, epochs=LEARN_EPOCHS, batch_size=LEARN_BATCH, shuffle=True, verbose=0
    )
    recalibrate_batchnorm(model, x_train[:_CALIBRATION])
    observed["loss"] = [float(v) for v in history.history["loss"]]
    observed["probs"] = np.asarray(
        model.predict(np.array(given["x_test"]), batch_size=250, verbose=0), dtype=np.float64
    )
    return observed


def _cnn_learn_verify(observed: dict, kept: dict) -> tuple[bool, str]:
    problems = cnn_problems(
        _cnn_facts(load_model_safely(observed["design"], "build_cnn"), (32, 32, 3)), 10
    )
    small = _cnn_facts(load_model_safely(observed["small"], "build_cnn"), LEARN_INPUT)
    problems += cnn_problems(small, len(LEARN_CLASSES), False)
    if problems:
        return False, "`build_cnn` was not trained: " + "; ".join(dict.fromkeys(problems))
    if "probs" not in observed:
        return False, "`build_cnn` was not trained"
    y_test = kept["y_test"]
    probs = np.asarray(observed["probs"], dtype=np.float64)
    if probs.shape != (LEARN_TEST, len(LEARN_CLASSES)) or not np.all(np.isfinite(probs)):
        return (
            False,
            f"`build_cnn`'s predictions after training have shape {probs.shape} or are not finite (NaN loss?)",
        )
    accuracy = float(np.mean(probs.argmax(axis=1) == y_test))
    loss = [float(v) for v in observed["loss"]]
    budget = (
        f"after {LEARN_EPOCHS} epochs on {LEARN_TRAIN:,} shapes images {LEARN_INPUT[0]}x{LEARN_INPUT[1]} "
        f"(threshold {LEARN_THRESHOLD:.2f}, chance {1 / len(LEARN_CLASSES):.2f}; training loss {loss[0]:.2f} -> {loss[-1]:.2f})"
    )
    if accuracy >= LEARN_THRESHOLD:
        return True, f"`build_cnn` reached held-out accuracy {accuracy:.2f} {budget}"
    return (
        False,
        f"`build_cnn` reached held-out accuracy {accuracy:.2f} only {budget}: it does not learn the shapes",
    )


# --- the assignment ---------------------------------------------------------------------


# The rules beyond values that the checks above enforce, by function. Each is stated in the
# notebook and exercised by a visible test marked `# rule: <rule>`; tests/test_visible_rules.py
# breaks each rule in turn and asserts that both the visible and the hidden tests fail.
INT = "returns an int"
RULES: dict[str, list[str]] = {
    "conv_param_count": [INT],
    "dense_param_count": [INT],
    "batchnorm_param_count": ["returns a tuple (trainable, non_trainable) of two ints"],
    "separable_conv_param_count": [INT],
    "receptive_field": [INT],
    "predict_shapes": [
        "leaves out the batch axis",
        "one shape per spec entry",
        "each shape is a tuple of ints",
    ],
    "predict_param_count": [INT],
    "build_lenet": ["softmax output", "honours num_classes", "honours input_shape"],
    "build_cnn": [
        "at most 250,000 parameters at the default arguments",
        "has a BatchNormalization layer",
        "has a Dropout layer",
        "softmax output of shape (None, num_classes)",
        "honours input_shape",
        "honours num_classes",
        "a model Keras can save and reload in safe mode (Sequential or functional, no subclass, no Lambda)",
    ],
}


CHECKS = [
    Check("conv_param_count", 2, "conv_param_count", "Conv2D parameters, as Keras counts them", _conv_cases, _conv_compare, returns="int"),
    Check("dense_param_count", 1, "dense_param_count", "Dense parameters", _dense_cases, _dense_compare, returns="int"),
    Check("batchnorm_param_count", 2, "batchnorm_param_count", "BatchNormalization (trainable, non-trainable)", _bn_cases, _bn_compare, returns="tuple"),
    Check("separable_conv_param_count", 2, "separable_conv_param_count", "SeparableConv2D parameters", _separable_cases, _separable_compare, returns="int"),
    Check("receptive_field", 2, "receptive_field", "receptive field of a stack of layers", _rf_cases, _rf_compare, returns="int"),
    Check("predict_shapes", 3, "predict_shapes", "output shape after each layer of a spec", _spec_cases, _shapes_compare, returns="shapes"),
    Check("predict_param_count", 2, "predict_param_count", "count_params() of a spec", _spec_cases, _count_compare, returns="int"),
    Check("build_from_spec", 3, "build_from_spec", "the Keras model a spec describes", _spec_cases, custom_observe=_spec_observe, custom_verify=_spec_verify),
    Check("build_lenet", 3, "build_lenet", "LeNet-5: shapes, softmax, parameters, outputs with copied weights", _lenet_cases, custom_observe=_lenet_observe, custom_verify=_lenet_verify),
    Check("build_cnn_design", 2, "build_cnn", "own CNN: budget, batch norm, dropout, softmax", custom_observe=_cnn_design_observe, custom_verify=_cnn_design_verify),
    Check("build_cnn_learns", 3, "build_cnn", "own CNN learns the shapes data in a fixed budget", custom_observe=_cnn_learn_observe, custom_verify=_cnn_learn_verify, fresh=_learn_fresh),
]  # fmt: skip


def _warmup() -> None:
    """Done once in the warm parent and inherited by every child; runs no TensorFlow op."""
    import matplotlib.pyplot as plt

    from cnn_course.data import load_digits

    load_digits(size=32)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    plt.close(fig)


ASSIGNMENT = Assignment(
    aid=AID,
    checks=CHECKS,
    # What the notebook's own cells import: loaded once by the warm parent, which forks.
    preload=(
        "numpy",
        "matplotlib",
        "matplotlib.pyplot",
        "tensorflow",
        "keras",
        "scipy.ndimage",
        "sklearn.datasets",
        "cnn_course.data",
        "cnn_course.testing",
    ),
    address_space_limit=False,  # TensorFlow maps gigabytes it never touches; RSS is watched
    default_timeout=180.0,
    warmup=_warmup,
)
