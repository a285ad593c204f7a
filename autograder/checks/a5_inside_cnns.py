"""Hidden checks of a5_inside_cnns: style losses, saliency, image optimisation, FGSM, shortcuts.

Everything is graded by behaviour. The losses are compared with a float64
NumPy reference on random feature maps, and their gradients (taken by the
child with ``tf.GradientTape``) must be finite where the generated image
equals the target (the ``tf.norm`` trap). The input-gradient functions are
compared with the reference on the same inputs, and their defining property is
checked by the grader on its own copy of the model: on a model that is linear
before its softmax, saliency is ``max_c |w_class|`` exactly; the target score
or layer activation rises over five steps; FGSM stays within epsilon and in
[0, 1] and raises the loss. Two checks use data made fresh for each grading
run: FGSM must cut the shipped base's accuracy on a hidden batch below a stated
level (accuracy computed here, from the base's predictions on the returned
images), and ``train_without_shortcut`` is trained in the child on a hidden
shortcut-laden training set; its model crosses the boundary as a ``.keras``
file, is loaded here with Keras's safe mode, and is scored here on test images
that never enter the child.

Inputs and the models' weights are generated with NumPy (identical on both
sides); expected values and the named mistakes come from
:mod:`autograder.reference.inside_cnns`, imported only where points are decided.
No TensorFlow op runs in the grading parent before the children are forked.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from autograder.core import Assignment, Check, compare_array
from autograder.keras_models import load_model_safely, model_bytes

AID = "a5_inside_cnns"

# FGSM against the shipped base on a hidden batch of the source task (stated in the notebook).
ATTACK_N, ATTACK_EPS, ATTACK_THRESHOLD = 200, 0.03, 0.60

# train_without_shortcut: the hidden training set, the budget and the thresholds (stated in the
# notebook, with the measurements behind them).
SHORTCUT_CUE, SHORTCUT_TRAIN, SHORTCUT_ALIGNED, SHORTCUT_TEST = "marker", 600, 0.98, 400
SHORTCUT_PARAMS = 100_000
SHORTCUT_MIN_ACCURACY, SHORTCUT_MAX_GAP = 0.70, 0.20
SHORTCUT_EPOCHS = 12  # the notebook's train_cnn helper (and the reference fix)
SHORTCUT_BUDGET_S = 20  # seconds of training the notebook asks for
# Measured on the 2-core machine (TF 2.21, CPU): 600 marker images, 12 epochs of lecture 12's CNN
# (Adam 3e-3, batches of 32), test sets of 400 images (seed + 100); one run per seed.
SHORTCUT_EVIDENCE = (
    "with `aligned=0.98`, the plainly trained CNN scores 0.09 to 0.16 on the swapped set, a gap of "
    "0.84 to 0.91 (three seeds); the same CNN behind a corner mask scores 0.85 to 0.99 on every set, "
    "with a gap of exactly 0; balancing by sample weights, with only about 6 images in each rare "
    "group, left gaps of 0.18, 0.47 and 0.49. With `aligned=0.95` the plain CNN learns some of the "
    "shape in 12 epochs (swapped 0.35 to 0.75, gap 0.26 to 0.65, five seeds) and balancing works "
    "(swapped 0.90 to 0.97, gap 0.02 to 0.10, four seeds): too close to tell apart, hence 0.98. The "
    "thresholds sit between: a plain model misses them by far, a masked one clears them by 0.15."
)
PLAIN_GAP = "0.84 to 0.91 with the same data and budget"


def _ref():
    from autograder.reference import inside_cnns

    return inside_cnns


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(20261215 + seed)


# --- the child's side: calling student code on tensors -----------------------------------


def _to_array(out) -> dict:
    """A student's return value (tensor, array, number) as plain data, or a ``bad_type``."""
    import keras

    if out is None or isinstance(out, (str, bytes, dict, bool)):
        return {"bad_type": f"returned {type(out).__name__}; return a tensor or a NumPy array"}
    try:
        arr = np.asarray(keras.ops.convert_to_numpy(out))
    except Exception:  # noqa: BLE001 - anything that is not a tensor
        try:
            arr = np.asarray(out, dtype=np.float64)
        except Exception:  # noqa: BLE001
            return {
                "bad_type": f"returned a {type(out).__name__}; return a tensor or a NumPy array"
            }
    if arr.dtype.kind not in "biuf":
        return {"bad_type": f"returned values of dtype {arr.dtype}; return real numbers"}
    if arr.ndim == 0:  # a scalar crosses as a float (an .npz would make it shape (1,))
        return {"value": float(arr)}
    return {"value": arr.astype(np.float64), "numpy": isinstance(out, np.ndarray)}


def _call(fn, *args) -> dict:
    """``fn(*args)`` as plain data; never raises."""
    from autograder.core import call_quietly

    ok, out = call_quietly(fn, *args)
    if not ok:
        return {"error": out}
    return _to_array(out)


def _tf(x):
    import tensorflow as tf

    return tf.constant(np.asarray(x, np.float32))


def _gradient(fn, fixed, moving) -> dict:
    """``d fn(fixed, moving) / d moving`` by ``tf.GradientTape`` (lists of tensors allowed)."""
    import tensorflow as tf

    from autograder.core import call_quietly

    moving = [tf.Variable(np.asarray(m, np.float32)) for m in moving]

    def run():
        with tf.GradientTape() as tape:
            loss = fn(fixed, moving)
        if not tf.is_tensor(loss):  # a NumPy or Python number: the tape saw none of it
            return [None]
        return tape.gradient(loss, moving)

    ok, grads = call_quietly(run)
    if not ok:
        return {"error": grads}
    if any(g is None for g in grads):
        return {"none": True}
    return {"value": [np.asarray(g, np.float64) for g in grads]}


# --- losses ------------------------------------------------------------------------------


def _maps(rng, shape) -> np.ndarray:
    """Post-ReLU-like feature maps: half zeros, the rest uniform in (0, 2)."""
    x = rng.uniform(-2.0, 2.0, shape).astype(np.float32)
    return np.maximum(x, 0.0)


@cache
def _gram_cases() -> list[tuple[str, np.ndarray]]:
    rng = _rng(1)
    cases = [(f"features of shape {s}", _maps(rng, s)) for s in [(1, 4, 4, 3), (2, 5, 3, 4), (3, 6, 7, 8), (2, 8, 8, 16)]]  # fmt: skip
    f = _maps(rng, (2, 6, 5, 4))
    positions = rng.permutation(30)
    shuffled = f.reshape(2, 30, 4)[:, positions].reshape(2, 6, 5, 4)
    cases += [
        ("features (2, 6, 5, 4)", f),
        ("the same features with their 30 positions permuted (G must not change)", shuffled),
        ("the same features with channels permuted (G becomes P G P^T)", f[..., [2, 0, 3, 1]]),
    ]
    return cases


def _gram_observe(namespace: dict):
    fn = namespace["gram_matrix"]
    return {"cases": [_call(fn, _tf(f)) for _, f in _gram_cases()]}


def _named(got: dict, expected, mistakes, what: str) -> str | None:
    if got.get("error") is not None:
        return f"raised {got['error']}"
    if "bad_type" in got:
        return str(got["bad_type"])
    value = np.asarray(got["value"], dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if value.shape != expected.shape:
        for explanation, variant in mistakes:
            try:
                if np.shape(variant()) == value.shape:
                    wrong = np.asarray(variant(), np.float64)
                    if compare_array(value, wrong, rtol=1e-4) is None:
                        return explanation
            except Exception:  # noqa: BLE001 - a variant that does not apply
                continue
        return f"{what} has shape {value.shape}, expected {expected.shape}"
    return compare_array(value, expected, mistakes, rtol=1e-4)


def _gram_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    cases = _gram_cases()
    got_all = observed["cases"]
    if len(got_all) != len(cases):
        raise ValueError("wrong number of cases")
    for (label, f), got in zip(cases, got_all, strict=True):
        mistakes = [
            ("the Gram matrix is normalised (divided by H*W); gram_matrix returns the plain sums", lambda f=f: ref.gram_np(f, "normalised_hw")),
            ("the Gram matrix is normalised (divided by H*W*C); gram_matrix returns the plain sums", lambda f=f: ref.gram_np(f, "normalised_hwc")),
            ("that is F F^T over positions, (B, HW, HW); the Gram matrix is F^T F over channels, (B, C, C)", lambda f=f: ref.gram_np(f, "transposed")),
            ("the channels are scrambled: reshaping (B, H, W, C) straight to (B, C, H*W) mixes positions and channels; reshape to (B, H*W, C) and transpose that", lambda f=f: ref.gram_np(f, "scrambled")),
        ]  # fmt: skip
        problem = _named(got, ref.gram_np(f), mistakes, "the Gram matrix")
        if problem:
            return False, f"`gram_matrix` on {label}: {problem}"
    return (
        True,
        f"`gram_matrix`: all {len(cases)} cases equal the reference (float64), position permutations leave G unchanged",
    )


def _pair_cases(seed: int, shapes) -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = _rng(seed)
    cases = []
    for s in shapes:
        p = _maps(rng, s)
        cases.append((f"feature maps of shape {s}", p, _maps(rng, s)))
    p = _maps(rng, (2, 5, 6, 4))
    cases.append(("equal feature maps (the loss is 0)", p, p.copy()))
    return cases


@cache
def _content_cases():
    return _pair_cases(2, [(1, 4, 4, 3), (2, 5, 3, 4), (3, 8, 8, 16)])


@cache
def _style_layer_cases():
    return _pair_cases(3, [(1, 4, 4, 3), (2, 5, 3, 4), (3, 8, 8, 16), (1, 2, 9, 5)])


def _pair_observe(function: str, cases):
    def observe(namespace: dict):
        fn = namespace[function]
        values = [_call(fn, _tf(a), _tf(b)) for _, a, b in cases()]
        _, p, _ = cases()[-1]
        grad = _gradient(lambda fixed, moving: fn(fixed, moving[0]), _tf(p), [p])
        return {"cases": values, "grad": grad}

    return observe


def _check_gradient(function: str, got: dict) -> str | None:
    """The gradient at equality must exist, be finite and vanish (it is a minimum)."""
    if got.get("error") is not None:
        return f"`{function}`'s gradient could not be taken: {got['error']}"
    if got.get("none"):
        return f"`{function}` is not differentiable by tf.GradientTape (the gradient is None): compute it with TensorFlow ops (tf.*, keras.ops), not NumPy"
    grads = [np.asarray(g, dtype=np.float64) for g in got["value"]]
    if not all(np.all(np.isfinite(g)) for g in grads):
        return f"`{function}`'s gradient is NaN where the generated features equal the target (a norm such as tf.norm(d) has no derivative at d = 0); use tf.reduce_sum(tf.square(d))"
    if max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads) > 1e-4:
        return f"`{function}`'s gradient where the generated features equal the target is not 0 (a minimum of the loss)"
    return None


def _pair_verify(function: str, cases, expected, mistakes_for, what: str):
    def verify(observed: dict) -> tuple[bool, str]:
        got_all = observed["cases"]
        if len(got_all) != len(cases()):
            raise ValueError("wrong number of cases")
        for (label, a, b), got in zip(cases(), got_all, strict=True):
            problem = _named(got, np.float64(expected(a, b)), mistakes_for(a, b), what)
            if problem:
                return False, f"`{function}` on {label}: {problem}"
        problem = _check_gradient(function, observed["grad"])
        if problem:
            return False, problem
        return (
            True,
            f"`{function}`: all {len(cases())} cases equal the reference; zero at equality, with a finite (zero) gradient there",
        )

    return verify


def _content_mistakes(p, f):
    ref = _ref()
    return [
        ("the 1/2 of Gatys et al.'s content loss is missing: 1/2 sum (F - P)^2", lambda: ref.content_loss_np(p, f, half=False)),
        ("that is the mean squared difference; the content loss is 1/2 sum (F - P)^2, a sum", lambda: 0.5 * np.mean((np.float64(f) - p) ** 2)),
    ]  # fmt: skip


def _style_layer_mistakes(a, g):
    ref = _ref()
    return [
        ("the normalisation 1 / (4 C^2 (H W)^2) is missing", lambda: ref.style_layer_loss_np(a, g, "no_norm")),
        ("the 4 of 1 / (4 C^2 (H W)^2) is missing", lambda: ref.style_layer_loss_np(a, g, "no_four")),
        ("the squared differences are averaged over the C^2 entries; divide their sum by 4 C^2 (H W)^2", lambda: ref.style_layer_loss_np(a, g, "mean")),
        ("the Gram matrices were normalised before the 1 / (4 C^2 (H W)^2): normalise once", lambda: ref.style_layer_loss_np(a, g, "gram_normalised")),
    ]  # fmt: skip


@cache
def _style_cases():
    rng = _rng(4)
    shapes = [(2, 8, 8, 4), (2, 4, 4, 8), (2, 2, 2, 16)]
    style = [_maps(rng, s) for s in shapes]
    generated = [_maps(rng, s) for s in shapes]
    return [
        ("three layers, weights (1.0, 0.5, 0.25)", style, generated, (1.0, 0.5, 0.25)),
        ("two layers, weights (0.2, 3.0)", style[1:], generated[1:], (0.2, 3.0)),
        ("three layers with equal features (the loss is 0)", style, [s.copy() for s in style], (1.0, 1.0, 1.0)),
    ]  # fmt: skip


def _style_observe(namespace: dict):
    fn = namespace["style_loss"]
    values = [
        _call(fn, [_tf(s) for s in style], [_tf(g) for g in generated], list(w))
        for _, style, generated, w in _style_cases()
    ]
    _, style, _, w = _style_cases()[-1]
    grad = _gradient(
        lambda fixed, moving: fn(fixed, moving, list(w)), [_tf(s) for s in style], style
    )
    return {"cases": values, "grad": grad}


def _style_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    cases = _style_cases()
    if len(observed["cases"]) != len(cases):
        raise ValueError("wrong number of cases")
    for (label, s, g, w), got in zip(cases, observed["cases"], strict=True):
        mistakes = [
            ("the weights are ignored: the style loss is sum_l w_l E_l", lambda s=s, g=g, w=w: ref.style_loss_np(s, g, w, "unweighted")),
            ("the weighted layer losses are averaged; the style loss is their sum", lambda s=s, g=g, w=w: ref.style_loss_np(s, g, w, "mean")),
        ]  # fmt: skip
        problem = _named(got, np.float64(ref.style_loss_np(s, g, w)), mistakes, "the style loss")
        if problem:
            return False, f"`style_loss` on {label}: {problem}"
    problem = _check_gradient("style_loss", observed["grad"])
    if problem:
        return False, problem
    return (
        True,
        f"`style_loss`: all {len(cases)} cases equal the weighted sum of layer losses; zero at equality, with a finite gradient",
    )


@cache
def _tv_cases():
    rng = _rng(5)
    cases = [(f"images of shape {s}", rng.uniform(0, 1, s).astype(np.float32)) for s in [(1, 5, 5, 3), (3, 7, 4, 3), (2, 16, 16, 1)]]  # fmt: skip
    cases.append(("a constant image (TV 0)", np.full((1, 6, 6, 3), 0.3, np.float32)))
    return cases


def _tv_observe(namespace: dict):
    fn = namespace["total_variation_loss"]
    return {"cases": [_call(fn, _tf(x)) for _, x in _tv_cases()]}


def _tv_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    cases = _tv_cases()
    if len(observed["cases"]) != len(cases):
        raise ValueError("wrong number of cases")
    for (label, x), got in zip(cases, observed["cases"], strict=True):
        mistakes = [
            ("the differences are squared; total variation, as tf.image.total_variation, sums their absolute values", lambda x=x: ref.total_variation_np(x, squares=True)),
            ("one value per image; sum over the batch (a scalar)", lambda x=x: [ref.total_variation_np(x[i : i + 1]) for i in range(len(x))]),
            ("the differences are averaged; total variation sums them", lambda x=x: np.mean(np.abs(np.diff(x, axis=1))) + np.mean(np.abs(np.diff(x, axis=2)))),
        ]  # fmt: skip
        problem = _named(
            got, np.float64(ref.total_variation_np(x)), mistakes, "the total variation"
        )
        if problem:
            return False, f"`total_variation_loss` on {label}: {problem}"
    return (
        True,
        f"`total_variation_loss`: all {len(cases)} cases equal tf.image.total_variation summed over the batch",
    )


# --- models shared by both sides ---------------------------------------------------------


LINEAR_SHAPE, LINEAR_CLASSES = (6, 5, 3), 4


@cache
def _linear_weights() -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(6)
    n = math.prod(LINEAR_SHAPE)
    return (
        rng.normal(0, 1, (n, LINEAR_CLASSES)).astype(np.float32),
        rng.normal(0, 1, LINEAR_CLASSES).astype(np.float32),
    )


def linear_model():
    """A model that is linear before its softmax: ``Flatten -> Dense("logits") -> softmax``."""
    import keras

    inputs = keras.Input(LINEAR_SHAPE, name="image")
    z = keras.layers.Dense(LINEAR_CLASSES, name="logits")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(z))
    model.get_layer("logits").set_weights(list(_linear_weights()))
    return model


def base_model():
    """The shipped base with its softmax top (the same file on both sides)."""
    from cnn_course.models import pretrained_base

    return pretrained_base()


def sharp_model():
    """The base with its logits multiplied by 4: confident enough that clipped probabilities
    saturate (lecture 12), then a softmax ``Activation``."""
    import keras

    base = pretrained_base_cached()
    z = keras.layers.Rescaling(4.0, name="sharpen")(base.get_layer("logits").output)
    return keras.Model(base.input, keras.layers.Activation("softmax", name="predictions")(z))


@cache
def pretrained_base_cached():
    return base_model()


def _model(name: str):
    return {"linear": linear_model, "base": pretrained_base_cached, "sharp": sharp_model}[name]()


@cache
def _source_batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from cnn_course.data import load_source_task

    return load_source_task(n, seed=seed)


@cache
def _reference(kind: str, i: int, variant: str = ""):
    """The reference's answer for hidden case ``i`` of ``kind`` (and a named mistake): the same
    for every submission, so the grading process computes it once per run."""
    ref = _ref()
    if kind == "saliency":
        _, name, x, c = _saliency_cases()[i]
        return ref.saliency(_model(name), x, c, post_softmax=variant == "post_softmax")
    if kind == "classvis":
        _, name, x, c, lr, reg = _classvis_cases()[i]
        return ref.class_visualization_step(_model(name), x, c, lr, reg, variant)
    if kind == "dream":
        _, name, x, layer, s = _dream_cases()[i]
        return ref.deep_dream_step(_model(name), x, layer, s, variant)
    if kind == "fgsm":
        _, name, x, y, eps = _fgsm_cases()[i]
        return ref.fgsm(_model(name), x, y, eps, variant)
    if kind == "fgsm_loss":
        _, name, x, y, _ = _fgsm_cases()[i]
        return ref.ce_per_image(_model(name), x, y)
    if kind == "gap":
        _, m, aligned, swapped = _gap_cases()[i]
        model = _gap_model(m)
        return ref.accuracy(model, *aligned), ref.accuracy(model, *swapped)
    raise KeyError(kind)


# --- saliency ----------------------------------------------------------------------------


@cache
def _saliency_cases():
    rng = _rng(7)
    x_src, _ = _source_batch(24, 3)
    return [
        ("a model linear before its softmax, class 2", "linear", rng.uniform(0, 1, (3, *LINEAR_SHAPE)).astype(np.float32), 2),
        ("the shipped base, 4 source-task images, class 5", "base", x_src[:4], 5),
        ("the shipped base, 1 image, class 11", "base", x_src[4:5], 11),
    ]  # fmt: skip


def _saliency_observe(namespace: dict):
    fn = namespace["saliency_map"]
    return {
        "cases": [_call(fn, _model(model), x.copy(), c) for _, model, x, c in _saliency_cases()]
    }


def _saliency_verify(observed: dict) -> tuple[bool, str]:
    cases = _saliency_cases()
    if len(observed["cases"]) != len(cases):
        raise ValueError("wrong number of cases")
    for i, ((label, name, x, c), got) in enumerate(zip(cases, observed["cases"], strict=True)):
        if name == "linear":
            w = _linear_weights()[0][:, c].reshape(LINEAR_SHAPE)  # (H, W, C)
            want = np.broadcast_to(np.abs(w).max(axis=-1), (len(x), *LINEAR_SHAPE[:2]))
        else:
            want = _reference("saliency", i)
        mistakes = [
            ("the score is the softmax probability; saliency uses the pre-softmax score of the class (the logit)", lambda i=i: _reference("saliency", i, "post_softmax")),
            ("the absolute value is missing: saliency is max over channels of |d score / d x|", lambda: None),
        ]  # fmt: skip
        problem = _named(got, want, mistakes[:1], "the saliency map")
        if problem is None and "value" in got and float(np.min(got["value"])) < 0:
            problem = mistakes[1][0]
        if problem is None and not got.get("numpy"):
            problem = "returns a tensor; return a NumPy array (B, H, W)"
        if problem:
            return False, f"`saliency_map` on {label}: {problem}"
    return (
        True,
        f"`saliency_map`: max_c |w_class| exactly on the linear model, and the reference gradient on the base ({len(cases)} cases)",
    )


# --- class visualisation and Deep Dream --------------------------------------------------

STEPS = 5


@cache
def _start_image() -> np.ndarray:
    return (0.5 + 0.05 * _rng(8).standard_normal((1, 32, 32, 3))).astype(np.float32)


@cache
def _classvis_cases():
    rng = _rng(9)
    return [
        ("the linear model, class 1, lr 0.5, l2_reg 0.1", "linear", rng.uniform(0, 1, (1, *LINEAR_SHAPE)).astype(np.float32), 1, 0.5, 0.1),
        ("the shipped base, class 3, lr 0.1, l2_reg 0.01", "base", _start_image(), 3, 0.1, 0.01),
        ("the shipped base, class 9, lr 0.05, l2_reg 0", "base", _start_image(), 9, 0.05, 0.0),
    ]  # fmt: skip


def _steps_observe(fn, model, x, args) -> dict:
    """``STEPS`` steps from ``x``, each fed the previous output: the images, as plain data."""
    images, current = [], x
    for _ in range(STEPS):
        got = _call(fn, model, _tf(current), *args)
        if "value" not in got:
            return got
        current = np.asarray(got["value"], np.float32)
        if current.shape != x.shape:
            return {"value": got["value"]}  # the verifier reports the shape
        images.append(current)
    return {"value": np.stack(images)}


def _classvis_observe(namespace: dict):
    fn = namespace["class_visualization_step"]
    out = [_call(fn, _model(m), _tf(x), c, lr, reg) for _, m, x, c, lr, reg in _classvis_cases()]
    _, m, x, c, lr, reg = _classvis_cases()[1]
    return {"cases": out, "steps": _steps_observe(fn, _model(m), x, (c, lr, reg))}


def _delta_problem(got: dict, x: np.ndarray, want: np.ndarray, mistakes) -> str | None:
    """Compare one step through its change ``out - x`` (the image itself hides small errors)."""
    if got.get("error") is not None:
        return f"raised {got['error']}"
    if "bad_type" in got:
        return str(got["bad_type"])
    value = np.asarray(got["value"], np.float64)
    if value.shape != x.shape:
        return f"returns shape {value.shape}; return the new image, shape {x.shape} like the input"
    wrong = [(e, lambda v=v: np.asarray(v(), np.float64) - x) for e, v in mistakes]
    return compare_array(value - x, np.asarray(want, np.float64) - x, wrong, rtol=2e-3)


def _steps_problem(got: dict, x: np.ndarray, measure, what: str) -> tuple[str | None, str]:
    if got.get("error") is not None:
        return f"raised {got['error']} on a later step", ""
    if "bad_type" in got:
        return str(got["bad_type"]), ""
    images = np.asarray(got["value"], np.float64)
    if images.shape != (STEPS, *x.shape) or not np.all(np.isfinite(images)):
        return f"{STEPS} chained steps did not give finite images of shape {x.shape}", ""
    values = [measure(x)] + [measure(img) for img in images]
    trace = " -> ".join(f"{v:.3f}" for v in values)
    if not values[-1] > values[0]:
        return f"{what} did not rise over {STEPS} steps from a fixed start ({trace})", trace
    return None, trace


def _classvis_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    cases = _classvis_cases()
    if len(observed["cases"]) != len(cases):
        raise ValueError("wrong number of cases")
    for i, ((label, _, x, *_), got) in enumerate(zip(cases, observed["cases"], strict=True)):
        step = lambda v="", i=i: _reference("classvis", i, v)  # noqa: E731
        mistakes = [
            (
                "the score is the softmax probability; use the pre-softmax score (the logit) of the class",
                lambda step=step: step("post_softmax"),
            ),
            (
                "that is a step down: gradient ascent adds lr * gradient",
                lambda step=step: step("descent"),
            ),
            (
                "the gradient is normalised; this step uses the raw gradient",
                lambda step=step: step("normalised"),
            ),
            (
                "the regulariser has the wrong sign: maximise score - l2_reg * ||image||^2",
                lambda step=step: step("l2_plus"),
            ),
            (
                "the image is clipped to [0, 1]; this step does not clip",
                lambda step=step: step("clipped"),
            ),
        ]
        problem = _delta_problem(got, x, step(), mistakes)
        if problem:
            return False, f"`class_visualization_step` on {label}: {problem}"
    _, name, x, c, _, _ = cases[1]
    model = _model(name)
    problem, trace = _steps_problem(
        observed["steps"],
        x,
        lambda img: float(ref.logits(model, img[None] if img.ndim == 3 else img)[0, c]),
        f"the score of class {c}",
    )
    if problem:
        return False, f"`class_visualization_step`: {problem}"
    return (
        True,
        f"`class_visualization_step`: one step equals the reference ({len(cases)} cases); the class score rose over {STEPS} steps ({trace})",
    )


@cache
def _dream_cases():
    return [
        ("the shipped base, layer block2_conv1, step 0.01", "base", _start_image(), "block2_conv1", 0.01),
        ("the shipped base, layer block3_conv2, step 0.02", "base", _start_image()[:, ::-1].copy(), "block3_conv2", 0.02),
        ("the shipped base, layer block1_conv1, step 0.005", "base", _source_batch(24, 3)[0][7:8], "block1_conv1", 0.005),
        ("the shipped base, layer block2_conv2, step 0.2 from uniform noise (some pixels leave [0, 1]: no clipping)", "base", _rng(10).uniform(0, 1, (1, 32, 32, 3)).astype(np.float32), "block2_conv2", 0.2),
    ]  # fmt: skip


def _dream_observe(namespace: dict):
    fn = namespace["deep_dream_step"]
    out = [_call(fn, _model(m), _tf(x), layer, s) for _, m, x, layer, s in _dream_cases()]
    _, m, x, layer, s = _dream_cases()[0]
    return {"cases": out, "steps": _steps_observe(fn, _model(m), x, (layer, s))}


def _dream_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    cases = _dream_cases()
    if len(observed["cases"]) != len(cases):
        raise ValueError("wrong number of cases")
    for i, ((label, _, x, *_), got) in enumerate(zip(cases, observed["cases"], strict=True)):
        step = lambda v="", i=i: _reference("dream", i, v)  # noqa: E731
        mistakes = [
            (
                "that is a step down (minimising the activation): Deep Dream adds step * gradient",
                lambda step=step: step("descent"),
            ),
            (
                "the gradient is not normalised: divide it by its mean absolute value (+ 1e-8)",
                lambda step=step: step("raw"),
            ),
            (
                "the gradient is divided by its largest absolute value; divide by its mean absolute value (+ 1e-8)",
                lambda step=step: step("max_norm"),
            ),
            (
                "the image is clipped to [0, 1]; this step does not clip",
                lambda step=step: step("clipped"),
            ),
        ]
        problem = _delta_problem(got, x, step(), mistakes)
        if problem:
            return False, f"`deep_dream_step` on {label}: {problem}"
    _, name, x, layer, _ = cases[0]
    model = _model(name)
    problem, trace = _steps_problem(
        observed["steps"],
        x,
        lambda img: ref.activation_mean(model, img.reshape(x.shape), layer),
        f"the mean activation of {layer}",
    )
    if problem:
        return False, f"`deep_dream_step`: {problem}"
    return (
        True,
        f"`deep_dream_step`: one step equals the reference ({len(cases)} cases); the mean activation of {layer} rose over {STEPS} steps ({trace})",
    )


# --- FGSM --------------------------------------------------------------------------------


@cache
def _fgsm_cases():
    x, y = _source_batch(24, 3)
    return [
        ("the shipped base, 12 source-task images, eps 0.03", "base", x[:12], y[:12], 0.03),
        ("the base with logits x 4 (confident: clipped probabilities saturate), 12 images, eps 0.02", "sharp", x[12:], y[12:], 0.02),
    ]  # fmt: skip


def _fgsm_observe(namespace: dict):
    fn = namespace["fgsm"]
    return {
        "cases": [_call(fn, _model(m), _tf(x), y.copy(), eps) for _, m, x, y, eps in _fgsm_cases()]
    }


FGSM_AGREE = (
    0.99  # share of pixels that must equal the reference (signs of tiny gradients may differ)
)


def _fgsm_bounds(value: np.ndarray, x: np.ndarray, eps: float) -> str | None:
    if value.shape != x.shape:
        return f"returns shape {value.shape}; return the adversarial images, shape {x.shape}"
    if not np.all(np.isfinite(value)):
        return "the adversarial images contain NaN or infinity"
    if float(np.max(np.abs(value - x))) > eps + 1e-5:
        return (
            f"some pixel moved by {float(np.max(np.abs(value - x))):.4f}, more than epsilon = {eps}"
        )
    if float(value.min()) < -1e-6 or float(value.max()) > 1 + 1e-6:
        return f"values in [{float(value.min()):.3f}, {float(value.max()):.3f}]: clip the adversarial images to [0, 1]"
    return None


def _fgsm_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    cases = _fgsm_cases()
    if len(observed["cases"]) != len(cases):
        raise ValueError("wrong number of cases")
    rose = []
    for i, ((label, name, x, y, eps), got) in enumerate(zip(cases, observed["cases"], strict=True)):
        where = f"`fgsm` on {label}"
        if got.get("error") is not None:
            return False, f"{where}: raised {got['error']}"
        if "bad_type" in got:
            return False, f"{where}: {got['bad_type']}"
        value = np.asarray(got["value"], np.float64)
        model = _model(name)
        variants = {
            v: _reference("fgsm", i, v) for v in ("no_clip", "gradient", "probabilities", "descent")
        }
        explain = {
            "no_clip": "the adversarial images are not clipped to [0, 1]",
            "gradient": "that is eps * gradient; FGSM steps by eps * sign(gradient)",
            "probabilities": "the cross-entropy was taken from the clipped probabilities: on confident images its gradient is exactly 0 and nothing changes (compute it from the logits, from_logits=True)",
            "descent": "that is a step down the loss: FGSM adds eps * sign(gradient)",
        }
        want = _reference("fgsm", i)

        def agree(a, b):
            return a.shape == b.shape and float(np.mean(np.abs(a - b) <= 1e-4)) >= FGSM_AGREE

        if not agree(value, want):
            for v, wrong in variants.items():
                if agree(value, np.asarray(wrong, np.float64)):
                    return False, f"{where}: {explain[v]}"
            bounds = _fgsm_bounds(value, x, eps)
            if bounds:
                return False, f"{where}: {bounds}"
            share = (
                float(np.mean(np.abs(value - want) <= 1e-4)) if value.shape == want.shape else 0.0
            )
            return (
                False,
                f"{where}: only {share:.1%} of the pixels equal the reference (at least {FGSM_AGREE:.0%} must)",
            )
        bounds = _fgsm_bounds(value, x, eps)
        if bounds:
            return False, f"{where}: {bounds}"
        before = _reference("fgsm_loss", i)
        after = ref.ce_per_image(model, value.astype(np.float32), y)
        if float(np.mean(after >= before - 1e-6)) < 0.9:
            return False, f"{where}: the loss fell on more than a tenth of the images"
        rose.append(f"{before.mean():.2f} -> {after.mean():.2f}")
    return (
        True,
        f"`fgsm`: equals the reference, within epsilon, in [0, 1]; mean loss {', '.join(rose)}",
    )


def _attack_fresh(rng: np.random.Generator):
    from cnn_course.data import load_source_task

    x, y = load_source_task(ATTACK_N, seed=int(rng.integers(1000, 2**31)))
    return {"x": x, "y": y}, {"x": x, "y": y}


def _attack_observe(namespace: dict, given: dict):
    fn = namespace["fgsm"]
    x, y = np.asarray(given["x"], np.float32), np.asarray(given["y"])
    return _call(fn, _model("base"), _tf(x), y.copy(), ATTACK_EPS)


_CLEAN: dict[bytes, float] = {}


def _clean_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """The base's accuracy on the hidden batch, once per grading run (the batch is the same for
    every submission)."""
    key = x[:2].tobytes() + y.tobytes()
    if key not in _CLEAN:
        _CLEAN[key] = float(np.mean(_ref().logits(_model("base"), x).argmax(axis=1) == y))
    return _CLEAN[key]


def _attack_verify(observed: dict, kept: dict) -> tuple[bool, str]:
    ref = _ref()
    if observed.get("error") is not None:
        return False, f"`fgsm` raised {observed['error']}"
    if "bad_type" in observed:
        return False, f"`fgsm` {observed['bad_type']}"
    x, y = np.asarray(kept["x"], np.float32), np.asarray(kept["y"])
    value = np.asarray(observed["value"], np.float64)
    bounds = _fgsm_bounds(value, x, ATTACK_EPS)
    if bounds:
        return False, f"`fgsm` on the hidden batch: {bounds}"
    base = _model("base")
    clean = _clean_accuracy(x, y)
    attacked = float(np.mean(ref.logits(base, value.astype(np.float32)).argmax(axis=1) == y))
    stated = (
        f"the shipped base's accuracy on {ATTACK_N} hidden source-task images went from {clean:.2f} "
        f"to {attacked:.2f} at epsilon = {ATTACK_EPS} (threshold: below {ATTACK_THRESHOLD:.2f})"
    )
    if attacked < ATTACK_THRESHOLD:
        return True, f"`fgsm`: {stated}"
    return False, f"`fgsm` is too weak: {stated}"


# --- shortcut learning -------------------------------------------------------------------


X_TEMPLATE = np.eye(5, dtype=bool) | np.eye(5, dtype=bool)[::-1]  # (5, 5): the 9 pixels of an "x"


def cue_reader():
    """A model that reads only the pencil cross: an x-shaped 5x5 filter (dark on the 9 pixels
    of the x, light around it), its largest response, then a softmax over (circle, square)."""
    import keras

    kernel = (
        np.where(X_TEMPLATE, -1.0 / 9, 1.0 / 16)[:, :, None, None] / 3
    )  # (5, 5, 1, 1) per channel
    kernel = np.repeat(kernel, 3, axis=2).astype(np.float32)  # (5, 5, 3, 1): grey contrast
    inputs = keras.Input((None, None, 3), name="image")
    conv = keras.layers.Conv2D(1, 5, name="x_detector")
    contrast = keras.layers.GlobalMaxPooling2D()(conv(inputs))  # (N, 1)
    dense = keras.layers.Dense(2, name="logits")
    z = dense(contrast)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(z))
    conv.set_weights([kernel, np.array([-0.3], np.float32)])
    dense.set_weights([np.array([[-20.0, 20.0]], np.float32), np.zeros(2, np.float32)])
    return model


def inverted_reader():
    """The cue reader with its two outputs swapped: cross means circle."""
    import keras

    model = cue_reader()
    w, b = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([w[:, ::-1], b[::-1]])
    return keras.Model(model.inputs[0], model.output)


def _gap_model(name: str):
    return {"cue_reader": cue_reader, "inverted": inverted_reader}[name]()


@cache
def _gap_sets():
    from cnn_course.data import load_shortcut

    aligned = load_shortcut(SHORTCUT_CUE, 120, 1.0, seed=5)
    swapped = load_shortcut(SHORTCUT_CUE, 80, 0.0, seed=6)
    half = load_shortcut(SHORTCUT_CUE, 100, 0.5, seed=7)
    return aligned, swapped, half


@cache
def _gap_cases():
    aligned, swapped, half = _gap_sets()
    return [
        ("a model that reads only the cross; aligned set of 120, swapped set of 80", "cue_reader", aligned, swapped),
        ("the same model with its outputs swapped (a negative gap)", "inverted", aligned, swapped),
        ("the cross reader again; the 'swapped' set has half its cues swapped (100 images)", "cue_reader", aligned, half),
    ]  # fmt: skip


def _gap_observe(namespace: dict):
    fn = namespace["shortcut_gap"]
    out = []
    for _, m, (xa, ya), (xs, ys) in _gap_cases():
        got = _call(fn, _gap_model(m), (xa.copy(), ya.copy()), (xs.copy(), ys.copy()))
        out.append(got)
    return {"cases": out}


def _gap_verify(observed: dict) -> tuple[bool, str]:
    cases = _gap_cases()
    if len(observed["cases"]) != len(cases):
        raise ValueError("wrong number of cases")
    gaps = []
    for i, ((label, _, aligned, swapped), got) in enumerate(
        zip(cases, observed["cases"], strict=True)
    ):
        acc_a, acc_s = _reference("gap", i)
        want = acc_a - acc_s
        mistakes = [
            ("that is swapped minus aligned; the gap is accuracy(aligned) - accuracy(swapped)", lambda d=acc_s - acc_a: d),
            ("that is the absolute value; the gap is accuracy(aligned) - accuracy(swapped), negative when the model prefers the swapped set", lambda d=-want if want < 0 else want: d),
            ("the accuracies are counts, not shares of the test set", lambda d=acc_a * aligned[1].size - acc_s * swapped[1].size: d),
        ]  # fmt: skip
        problem = _named(got, np.float64(want), mistakes, "the gap")
        if problem is None and np.ndim(got["value"]) != 0:
            problem = "return a single number (a float)"
        if problem:
            return False, f"`shortcut_gap` on {label}: {problem}"
        gaps.append(f"{want:+.3f}")
    return True, f"`shortcut_gap`: equals the reference on {len(cases)} models ({', '.join(gaps)})"


def shortcut_data(seed: int):
    """The hidden training set and the three test sets for one grading run."""
    from cnn_course.data import load_shortcut, shortcut_test_sets

    x, y = load_shortcut(SHORTCUT_CUE, SHORTCUT_TRAIN, SHORTCUT_ALIGNED, seed=seed)
    tests = shortcut_test_sets(SHORTCUT_CUE, SHORTCUT_TEST, seed=seed + 1)
    return x, y, tests


def _shortcut_fresh(rng: np.random.Generator):
    seed = int(rng.integers(1000, 2**30))
    x, y, tests = shortcut_data(seed)
    kept = {name: {"x": xt, "y": yt} for name, (xt, yt) in tests.items()}
    return {"x": x, "y": y, "seed": int(rng.integers(2**31))}, kept


def _fix_observe(namespace: dict, given: dict):
    fn = namespace["train_without_shortcut"]
    x, y = np.array(given["x"], np.float32), np.array(given["y"])
    model = fn(x, y, int(given["seed"]))
    return model_bytes(model, "train_without_shortcut")


def _fix_verify(observed: dict, kept: dict) -> tuple[bool, str]:
    model = load_model_safely(observed, "train_without_shortcut")
    if isinstance(model, str):
        return False, f"`train_without_shortcut`: {model}"
    params = int(model.count_params())
    if params > SHORTCUT_PARAMS:
        return (
            False,
            f"`train_without_shortcut`'s model has {params:,} parameters, over the budget of {SHORTCUT_PARAMS:,}",
        )
    acc = {}
    for name, data in kept.items():
        x = np.asarray(data["x"], np.float32)
        try:
            out = np.asarray(model(x, training=False), dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - the student's model
            return (
                False,
                f"`train_without_shortcut`'s model cannot take (N, 32, 32, 3) images ({type(exc).__name__})",
            )
        if out.shape != (len(x), 2) or not np.all(np.isfinite(out)):
            return (
                False,
                f"`train_without_shortcut`'s model gives outputs of shape {out.shape} (or not finite) for {len(x)} images; expected ({len(x)}, 2)",
            )
        acc[name] = float(np.mean(out.argmax(axis=1) == np.asarray(data["y"])))
    gap = acc["aligned"] - acc["swapped"]
    stated = (
        f"on {SHORTCUT_TEST} hidden test images each: aligned {acc['aligned']:.3f}, swapped {acc['swapped']:.3f}, "
        f"removed {acc['removed']:.3f}, gap {gap:+.3f} (required: accuracy >= {SHORTCUT_MIN_ACCURACY:.2f} on "
        f"the aligned and the swapped set and |gap| <= {SHORTCUT_MAX_GAP:.2f}; a plainly trained model "
        f"shows a gap of {PLAIN_GAP})"
    )
    if abs(gap) > SHORTCUT_MAX_GAP:
        why = (
            "the model still follows the cue"
            if gap > 0
            else "the model follows the cue the other way round (it learnt the swapped cue, not the shape)"
        )
        return False, f"`train_without_shortcut`: {why}: {stated}"
    if min(acc["aligned"], acc["swapped"]) < SHORTCUT_MIN_ACCURACY:
        return (
            False,
            f"`train_without_shortcut`: the model does not tell circles from squares well enough: {stated}",
        )
    return True, f"`train_without_shortcut`: {stated}"


# --- the assignment ----------------------------------------------------------------------


# The rules beyond values that the checks above enforce, by function. Each is stated in the
# notebook and exercised by a visible test marked `# rule: <rule>` (tests/rules_a5_inside_cnns.py
# breaks each in turn).
SCALAR = "returns a scalar (shape ())"
DIFFERENTIABLE = "differentiable by tf.GradientTape, with a finite gradient at equality"
RULES: dict[str, list[str]] = {
    "gram_matrix": ["returns shape (B, C, C)"],
    "content_loss": [SCALAR, DIFFERENTIABLE],
    "style_layer_loss": [SCALAR, DIFFERENTIABLE],
    "style_loss": [SCALAR],
    "total_variation_loss": [SCALAR],
    "saliency_map": ["returns a NumPy array of shape (B, H, W)", "non-negative"],
    "class_visualization_step": ["returns the new image, same shape as the input", "does not clip"],
    "deep_dream_step": ["returns the new image, same shape as the input", "does not clip"],
    "fgsm": ["stays within epsilon of the input", "values in [0, 1]"],
    "shortcut_gap": ["returns a float"],
    "train_without_shortcut": [
        "returns a keras.Model with outputs of shape (N, 2)",
        "a model Keras can save and reload in safe mode (Sequential or functional, no subclass, no Lambda)",
        f"at most {SHORTCUT_PARAMS:,} parameters",
    ],
}


CHECKS = [
    Check("gram_matrix", 3, "gram_matrix", "Gram matrices (B, C, C), not normalised", custom_observe=_gram_observe, custom_verify=_gram_verify),
    Check("content_loss", 1, "content_loss", "content loss 1/2 sum (F - P)^2", custom_observe=_pair_observe("content_loss", _content_cases), custom_verify=_pair_verify("content_loss", _content_cases, lambda a, b: _ref().content_loss_np(a, b), _content_mistakes, "the content loss")),
    Check("style_layer_loss", 2, "style_layer_loss", "style loss of one layer, Gatys-normalised", custom_observe=_pair_observe("style_layer_loss", _style_layer_cases), custom_verify=_pair_verify("style_layer_loss", _style_layer_cases, lambda a, b: _ref().style_layer_loss_np(a, b), _style_layer_mistakes, "the style loss")),
    Check("style_loss", 2, "style_loss", "weighted style loss over layers", custom_observe=_style_observe, custom_verify=_style_verify),
    Check("total_variation_loss", 2, "total_variation_loss", "total variation, summed over the batch", custom_observe=_tv_observe, custom_verify=_tv_verify),
    Check("saliency_map", 3, "saliency_map", "saliency from the pre-softmax score", custom_observe=_saliency_observe, custom_verify=_saliency_verify),
    Check("class_visualization_step", 2, "class_visualization_step", "one step of class visualisation", custom_observe=_classvis_observe, custom_verify=_classvis_verify),
    Check("deep_dream_step", 2, "deep_dream_step", "one Deep Dream step", custom_observe=_dream_observe, custom_verify=_dream_verify),
    Check("fgsm", 3, "fgsm", "FGSM: reference, bounds, loss rises", custom_observe=_fgsm_observe, custom_verify=_fgsm_verify),
    Check("fgsm_attack", 2, "fgsm", "FGSM cuts the base's accuracy on a hidden batch", custom_observe=_attack_observe, custom_verify=_attack_verify, fresh=_attack_fresh),
    Check("shortcut_gap", 2, "shortcut_gap", "shortcut gap aligned - swapped", custom_observe=_gap_observe, custom_verify=_gap_verify),
    Check("train_without_shortcut", 6, "train_without_shortcut", "a fix that closes the shortcut gap on hidden data", custom_observe=_fix_observe, custom_verify=_fix_verify, fresh=_shortcut_fresh),
]  # fmt: skip


def _warmup() -> None:
    """Done once in the warm parent and inherited by every child; runs no TensorFlow op."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    plt.close(fig)
    _source_batch(24, 3)
    _gap_sets()
    for build in (_gram_cases, _content_cases, _style_layer_cases, _style_cases, _tv_cases):
        build()


ASSIGNMENT = Assignment(
    aid=AID,
    checks=CHECKS,
    preload=(
        "numpy",
        "matplotlib",
        "matplotlib.pyplot",
        "tensorflow",
        "keras",
        "skimage.data",
        "skimage.transform",
        "cnn_course.data",
        "cnn_course.models",
        "cnn_course.testing",
    ),
    address_space_limit=False,  # TensorFlow maps gigabytes it never touches; RSS is watched
    default_timeout=150.0,
    warmup=_warmup,
)
