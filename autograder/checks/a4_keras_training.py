"""Hidden checks of a4_keras_training: schedules, callbacks, augmentation, losses, transfer.

Everything is graded by behaviour. The schedules are compared with their formulas and
then plugged into ``keras.callbacks.LearningRateScheduler`` for a real short fit;
``make_callbacks`` runs in a tiny fit whose validation loss the grader scripts (it
improves, then plateaus) and the learning rate of every epoch is recorded; the
augmenter is called in both modes, twice, with seeds, and the shipped base classifies
what it makes; the losses are evaluated and differentiated with ``tf.GradientTape``;
the transfer model is fitted briefly to see that its base does not move, fine-tuning is
read from the layers' flags and from what a short fit changes, and the transfer model
is trained on a hidden target task whose labels never enter the child.

Inputs are generated here with NumPy (identical on both sides); the child observes
plain data; expected values and the known wrong variants come from
:mod:`autograder.reference.keras_training` (NumPy only), imported where points are
decided. No TensorFlow op runs in the grading parent.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from autograder.core import Assignment, Case, Check, describe_exception

AID = "a4_keras_training"

# The transfer-learning budget (stated in the notebook and the feedback).
TRANSFER_CLASSES = 6  # cnn_course.data.TARGET_CLASSES
TRANSFER_PER_CLASS = 30  # labelled training images per class
TRANSFER_TEST = 300
TRANSFER_EPOCHS, TRANSFER_BATCH, TRANSFER_RATE = 8, 16, 1e-2
TRANSFER_THRESHOLD = 0.65
# Measured with this budget (180 training images, 300 held out, seeds 0-4 of the split; 2 CPU
# cores): the frozen-feature reference (Adam(1e-2)) reaches 0.81-0.85 held-out accuracy; the
# whole base trained from scratch (Adam(3e-3), batch-norm momentum 0.9 as in lecture 09)
# 0.31-0.46, and with Keras's default momentum 0.99 chance (0.16-0.17), its moving statistics
# still far from the data's after 96 steps.
FROZEN_MEASURED = "0.81-0.85"
SCRATCH_MEASURED = "0.31-0.46"
_INIT_SEED = 40417

AUGMENT_IMAGES = 280  # source-task images the shipped base classifies after augmentation
AUGMENT_THRESHOLD = 0.50  # accuracy of the base on augmented images (chance 1/14)

FINE_TUNE_OLD_RATE = 1e-3  # the transfer model is compiled with this before fine_tune


def _ref():
    from autograder.reference import keras_training

    return keras_training


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(20261214 + seed)


# --- plain values ------------------------------------------------------------------------


def _plain_float(out) -> dict:
    """A Python or NumPy float as plain data, else a message (an int, a tensor, a list)."""
    if isinstance(out, (float, np.floating)):
        return {"value": float(out)}
    name = type(out).__name__
    if isinstance(out, (int, np.integer)) and not isinstance(out, bool):
        return {"bad_type": f"returned the int {int(out)}; return a float"}
    return {"bad_type": f"returned a {name}; return a float (a tensor or array will not do)"}


def _call(fn, args: tuple, kwargs: dict) -> tuple[bool, object]:
    try:
        return True, fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - student code
        return False, describe_exception(exc)


def _float_cases(fn, cases: list[Case]) -> list[dict]:
    results = []
    for case in cases:
        ok, out = _call(fn, case.args, case.kwargs)
        results.append(_plain_float(out) if ok else {"error": out})
    return results


def _close(got: float, want: float, rtol: float = 1e-6) -> bool:
    return math.isfinite(got) and abs(got - want) <= rtol * max(abs(want), 1e-12)


# --- a tiny fit that records the learning rate of every epoch (child side) ----------------


def _rates_in_fit(callbacks: list, epochs: int, lr0: float, scripted: dict | None = None) -> list:
    """The optimizer's learning rate at the start of each epoch of a tiny fit.

    ``scripted``: ``{"val_loss": [...], "loss": [...]}`` written into the logs at the end of
    each epoch, before any other callback reads them (no validation data is needed)."""
    import keras

    class Script(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None and scripted:
                for key, values in scripted.items():
                    logs[key] = float(values[epoch])

    class Record(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rates: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            lr = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            self.rates.append(float(lr))

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr0), loss="mse")
    x = _rng(7).normal(size=(16, 4)).astype("float32")
    record = Record()
    model.fit(
        x, x[:, :1], epochs=epochs, batch_size=16, verbose=0,
        callbacks=[Script(), *callbacks, record],
    )  # fmt: skip
    return record.rates


# --- schedules ---------------------------------------------------------------------------


@cache
def _step_cases() -> list[Case]:
    cases = [
        Case((0, 0.1), {}, "epoch 0, lr0=0.1 (defaults drop=0.5, every=10)"),
        Case((9, 0.1), {}, "epoch 9, lr0=0.1: still the first step"),
        Case((10, 0.1), {}, "epoch 10, lr0=0.1: the first drop"),
        Case((25, 0.01), {"drop": 0.1, "every": 5}, "epoch 25, lr0=0.01, drop=0.1, every=5"),
        Case((7, 1e-3), {"drop": 0.5, "every": 7}, "epoch 7, lr0=1e-3, drop=0.5, every=7"),
    ]
    rng = _rng(1)
    for _ in range(10):
        epoch, every = int(rng.integers(0, 60)), int(rng.integers(1, 15))
        lr0, drop = float(rng.choice([1.0, 0.1, 3e-3, 1e-4])), float(rng.choice([0.5, 0.1, 0.25]))
        cases.append(Case((epoch, lr0), {"drop": drop, "every": every}, f"epoch {epoch}, lr0={lr0:g}, drop={drop:g}, every={every}"))  # fmt: skip
    return cases


@cache
def _exp_cases() -> list[Case]:
    cases = [
        Case((0, 0.1, 0.9), {}, "epoch 0, lr0=0.1, rate=0.9: lr0 itself"),
        Case((1, 0.1, 0.9), {}, "epoch 1, lr0=0.1, rate=0.9"),
        Case((20, 1e-3, 0.95), {}, "epoch 20, lr0=1e-3, rate=0.95"),
    ]
    rng = _rng(2)
    for _ in range(8):
        epoch, lr0 = int(rng.integers(0, 50)), float(rng.choice([1.0, 0.1, 3e-3]))
        rate = float(np.round(rng.uniform(0.5, 0.99), 3))
        cases.append(Case((epoch, lr0, rate), {}, f"epoch {epoch}, lr0={lr0:g}, rate={rate:g}"))
    return cases


FIT_EPOCHS = 7
_STEP_FIT = (0.1, 0.5, 3)  # lr0, drop, every: drops after epochs 2 and 5
_EXP_FIT = (0.1, 0.8)  # lr0, rate


def _schedule_fit(fn, schedule) -> dict:
    import keras

    try:
        rates = _rates_in_fit([keras.callbacks.LearningRateScheduler(schedule)], FIT_EPOCHS, 1.0)
    except BaseException as exc:  # noqa: BLE001 - Keras refuses what is not a float
        return {"error": describe_exception(exc)}
    return {"rates": rates}


def _step_observe(namespace: dict):
    fn = namespace["step_decay"]
    lr0, drop, every = _STEP_FIT
    return {
        "cases": _float_cases(fn, _step_cases()),
        "fit": _schedule_fit(fn, lambda epoch, lr: fn(epoch, lr0, drop=drop, every=every)),
    }


def _exp_observe(namespace: dict):
    fn = namespace["exponential_decay"]
    lr0, rate = _EXP_FIT
    return {
        "cases": _float_cases(fn, _exp_cases()),
        "fit": _schedule_fit(fn, lambda epoch, lr: fn(epoch, lr0, rate)),
    }


def _schedule_verify(function, cases, observed, right, variants, fit_rates) -> tuple[bool, str]:
    got_all = observed["cases"]
    if not isinstance(got_all, list) or len(got_all) != len(cases):
        raise ValueError("wrong number of cases")
    for i, (case, got) in enumerate(zip(cases, got_all, strict=True), start=1):
        where = f"`{function}` failed on case {i} of {len(cases)} ({case.label})"
        if "error" in got:
            return False, f"{where}: raised {got['error']}"
        if "bad_type" in got:
            return False, f"{where}: {got['bad_type']}"
        value, want = float(got["value"]), right(*case.args, **case.kwargs)
        if _close(value, want):
            continue
        for explanation, variant in variants:
            wrong = variant(*case.args, **case.kwargs)
            if not _close(wrong, want) and _close(value, wrong):
                return False, f"{where}: returned {value:.6g}, expected {want:.6g}: {explanation}"
        return False, f"{where}: returned {value:.6g}, expected {want:.6g}"
    fit = observed["fit"]
    if "error" in fit:
        return False, f"`{function}` in keras.callbacks.LearningRateScheduler: {fit['error']}"
    got_rates = [float(v) for v in fit["rates"]]
    if len(got_rates) != len(fit_rates) or not all(
        _close(g, w, 1e-5) for g, w in zip(got_rates, fit_rates, strict=False)
    ):
        shown = ", ".join(f"{v:.4g}" for v in got_rates)
        return (
            False,
            f"`{function}` in a real fit gave the rates [{shown}] over {FIT_EPOCHS} epochs, expected [{', '.join(f'{v:.4g}' for v in fit_rates)}]",
        )
    return (
        True,
        f"`{function}`: all {len(cases)} cases correct, and the same rates during a {FIT_EPOCHS}-epoch fit with LearningRateScheduler",
    )


def _step_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    lr0, drop, every = _STEP_FIT
    return _schedule_verify(
        "step_decay", _step_cases(), observed, ref.step_decay,
        [("off by one epoch: the first epoch is epoch 0, so the rate drops at epoch `every`, not `every - 1` (floor(epoch / every))", ref.step_decay_late),
         ("the floor is missing: the rate falls in steps, once every `every` epochs", ref.step_decay_smooth)],
        [ref.step_decay(e, lr0, drop, every) for e in range(FIT_EPOCHS)],
    )  # fmt: skip


def _exp_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    lr0, rate = _EXP_FIT
    return _schedule_verify(
        "exponential_decay", _exp_cases(), observed, ref.exponential_decay,
        [("off by one epoch: epoch 0 trains at lr0 (rate ** epoch, not rate ** (epoch + 1))", ref.exponential_decay_late)],
        [ref.exponential_decay(e, lr0, rate) for e in range(FIT_EPOCHS)],
    )  # fmt: skip


# --- make_callbacks ----------------------------------------------------------------------

PLATEAU_EPOCHS = 11
# Scripted losses: the validation loss improves for four epochs, then stays flat; the training
# loss flattens after two, so a callback on `loss` reduces earlier.
PLATEAU_VAL = [1.0, 0.9, 0.8, 0.7] + [0.7] * (PLATEAU_EPOCHS - 4)
PLATEAU_TRAIN = [1.0, 0.6] + [0.6] * (PLATEAU_EPOCHS - 2)


@cache
def _plateau_cases() -> list[Case]:
    """``make_callbacks`` arguments; the tiny model starts at ``lr0`` (``Case.label`` says so)."""
    return [
        Case((), {"lr0": 1e-3}, "the defaults (patience=3, factor=0.5, min_lr=1e-5), starting at 1e-3"),
        Case((), {"patience": 2, "factor": 0.1, "min_lr": 2e-4, "lr0": 0.01}, "patience=2, factor=0.1, min_lr=2e-4, starting at 0.01: min_lr is reached"),
    ]  # fmt: skip


def _callbacks_observe(namespace: dict):
    import keras

    fn = namespace["make_callbacks"]
    results = []
    for case in _plateau_cases():
        kwargs = {k: v for k, v in case.kwargs.items() if k != "lr0"}
        ok, out = _call(fn, (), kwargs)
        if not ok:
            results.append({"error": out})
            continue
        if not isinstance(out, (list, tuple)) or not all(
            isinstance(cb, keras.callbacks.Callback) for cb in out
        ):
            results.append({"bad_type": f"returned a {type(out).__name__}; return a list of keras.callbacks.Callback objects"})  # fmt: skip
            continue
        # EarlyStopping may be in the list; here it would end the scripted run early.
        kept = [cb for cb in out if not isinstance(cb, keras.callbacks.EarlyStopping)]
        scripted = {"val_loss": PLATEAU_VAL, "loss": PLATEAU_TRAIN}
        try:
            rates = _rates_in_fit(kept, PLATEAU_EPOCHS, case.kwargs["lr0"], scripted)
        except BaseException as exc:  # noqa: BLE001 - student callbacks
            results.append({"error": describe_exception(exc)})
            continue
        results.append({"rates": rates})
    return {"cases": results}


def _plateau_expected(case: Case, monitored=None, **changes) -> list[float]:
    settings = {"patience": 3, "factor": 0.5, "min_lr": 1e-5, **case.kwargs, **changes}
    lr0 = settings.pop("lr0")
    return _ref().plateau_rates(monitored or PLATEAU_VAL, lr0, **settings)


def _same_rates(got: list[float], want: list[float]) -> bool:
    return len(got) == len(want) and all(_close(g, w, 1e-5) for g, w in zip(got, want, strict=True))


def _callbacks_verify(observed: dict) -> tuple[bool, str]:
    cases = _plateau_cases()
    got_all = observed["cases"]
    if not isinstance(got_all, list) or len(got_all) != len(cases):
        raise ValueError("wrong number of cases")
    for i, (case, got) in enumerate(zip(cases, got_all, strict=True), start=1):
        where = f"`make_callbacks` failed on case {i} of {len(cases)} ({case.label})"
        if "error" in got:
            return False, f"{where}: raised {got['error']}"
        if "bad_type" in got:
            return False, f"{where}: {got['bad_type']}"
        rates = [float(v) for v in got["rates"]]
        want = _plateau_expected(case)
        if _same_rates(rates, want):
            continue
        shown = ", ".join(f"{v:.3g}" for v in rates)
        told = f"{where}: the learning rate per epoch was [{shown}], expected [{', '.join(f'{v:.3g}' for v in want)}]"
        patience = {**{"patience": 3}, **case.kwargs}["patience"]
        named = [
            ("the callback watches `loss`, not `val_loss`: it reduced when the training loss stopped improving", dict(monitored=PLATEAU_TRAIN)),
            ("the patience is off by one: Keras reduces on the patience-th epoch without improvement", dict(patience=patience + 1)),
            ("the patience is off by one: Keras reduces on the patience-th epoch without improvement", dict(patience=max(1, patience - 1))),
            ("min_lr is not respected: the rate went below it", dict(min_lr=0.0)),
        ]  # fmt: skip
        for explanation, changes in named:
            if _same_rates(rates, _plateau_expected(case, **changes)):
                return False, f"{told}: {explanation}"
        if all(_close(r, rates[0], 1e-6) for r in rates):
            return (
                False,
                f"{told}: the rate never dropped (is a ReduceLROnPlateau on 'val_loss' in the list?)",
            )
        drops = [b / a for a, b in zip(rates, rates[1:], strict=False) if b < a * (1 - 1e-6)]
        factor = {**{"factor": 0.5}, **case.kwargs}["factor"]
        if drops and not _close(drops[0], factor, 1e-4):
            return (
                False,
                f"{told}: the rate was multiplied by {drops[0]:.3g}, not by factor={factor:g}",
            )
        return False, told
    return (
        True,
        f"`make_callbacks`: the learning rate dropped on the epochs Keras's ReduceLROnPlateau semantics give, in all {len(cases)} cases (validation loss scripted to improve, then plateau)",
    )


# --- make_augmenter ----------------------------------------------------------------------


@cache
def _augment_batch() -> np.ndarray:
    from cnn_course.data import load_source_task

    return load_source_task(8, seed=31)[0]  # (8, 32, 32, 3)


def _augment_fresh(rng: np.random.Generator):
    from cnn_course.data import load_source_task

    x, y = load_source_task(AUGMENT_IMAGES, seed=int(rng.integers(2**62)))
    return {"x": x}, {"y": y}


def _numpy(t) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(t))


def _augment_observe(namespace: dict, given: dict):
    import keras

    from cnn_course.models import pretrained_base

    fn = namespace["make_augmenter"]
    x = _augment_batch()
    aug = fn()
    if not callable(aug):
        return {
            "missing": f"`make_augmenter()` returned a {type(aug).__name__}; return a keras.Sequential"
        }
    off = _numpy(aug(x, training=False))
    on = [_numpy(aug(x, training=True)) for _ in range(2)]
    seeded = [_numpy(fn(seed=5)(x, training=True)) for _ in range(2)]
    obs = {"dtype": str(off.dtype), "off": off.astype(np.float64), "on": [a.astype(np.float64) for a in on],
           "seeded": [a.astype(np.float64) for a in seeded], "on_dtype": str(on[0].dtype)}  # fmt: skip
    if on[0].shape == x.shape:
        base = pretrained_base()
        images = _numpy(fn(seed=9)(np.asarray(given["x"]), training=True))
        obs["probs"] = np.asarray(base.predict(images, batch_size=140, verbose=0), np.float64)
    del keras
    return obs


def _augment_verify(observed: dict, kept: dict) -> tuple[bool, str]:
    x = _augment_batch().astype(np.float64)
    off, on, seeded = np.asarray(observed["off"]), observed["on"], observed["seeded"]
    on = [np.asarray(a) for a in on]
    for name, arr in (("training=False", off), ("training=True", on[0])):
        if arr.shape != x.shape:
            return (
                False,
                f"`make_augmenter()` changed the shape of a batch with {name}: {x.shape} -> {arr.shape}; keep the shape",
            )
    for dtype in (observed["dtype"], observed["on_dtype"]):
        if dtype != "float32":
            return False, f"`make_augmenter()` changed the dtype of float32 images to {dtype}"
    if np.max(np.abs(off - x)) > 1e-5:
        return (
            False,
            "`make_augmenter()` changes the images with training=False: the pipeline is active at inference (use Keras's random preprocessing layers, which pass images through unchanged at inference)",
        )
    if np.max(np.abs(on[0] - on[1])) < 1e-4:
        return (
            False,
            "`make_augmenter()` gives the same images on two calls with training=True: nothing random happens",
        )
    a, b = (np.asarray(s) for s in seeded)
    if a.shape != b.shape or np.max(np.abs(a - b)) > 1e-4:
        return (
            False,
            "two augmenters made with make_augmenter(seed=5) give different images: pass the seed to every random layer",
        )
    probs = np.asarray(observed.get("probs", np.zeros((0, 14))))
    y = kept["y"]
    if probs.shape != (len(y), 14):
        return False, "the shipped base could not classify the augmented images"
    accuracy = float(np.mean(probs.argmax(axis=1) == y))
    told = f"the shipped base classifies {len(y)} augmented source-task images with accuracy {accuracy:.2f} (threshold {AUGMENT_THRESHOLD:.2f}, chance {1 / 14:.2f}; about 0.96 without augmentation)"
    if accuracy < AUGMENT_THRESHOLD:
        return (
            False,
            f"`make_augmenter`: {told}: the augmentation destroys what the label depends on (rotations, zooms or shifts too large?)",
        )
    return (
        True,
        f"`make_augmenter`: shape and dtype kept, identity at inference, random in training, reproducible with a seed; {told}",
    )


# --- balanced_class_weights --------------------------------------------------------------


@cache
def _weights_cases() -> list[Case]:
    cases = [
        Case((np.array([0, 0, 0, 1]),), {}, "y = [0, 0, 0, 1]"),
        Case((np.array([0] * 90 + [1] * 10),), {}, "90 of class 0, 10 of class 1"),
        Case((np.array([2, 0, 1, 2, 2, 1]),), {}, "y = [2, 0, 1, 2, 2, 1]"),
    ]
    rng = _rng(3)
    for _ in range(6):
        k = int(rng.integers(2, 8))
        p = rng.dirichlet(np.ones(k))
        y = rng.choice(k, size=int(rng.integers(20, 300)), p=p)
        y[:k] = np.arange(k)  # every class present
        cases.append(Case((rng.permutation(y),), {}, f"{len(y)} labels of {k} classes, counts {np.bincount(y, minlength=k).tolist()}"))  # fmt: skip
    return cases


def _weights_observe(namespace: dict):
    fn = namespace["balanced_class_weights"]
    results = []
    for case in _weights_cases():
        ok, out = _call(fn, (case.args[0].copy(),), {})
        if not ok:
            results.append({"error": out})
        elif not isinstance(out, dict):
            results.append({"bad_type": f"returned a {type(out).__name__}; return a dict {{class: weight}}"})  # fmt: skip
        elif not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in out):
            results.append({"bad_type": "the dict's keys must be the int class labels (Keras's class_weight needs ints)"})  # fmt: skip
        else:
            try:
                results.append({"keys": [int(k) for k in out], "values": [float(v) for v in out.values()]})  # fmt: skip
            except (TypeError, ValueError):
                results.append({"bad_type": "the dict's values must be numbers"})
    return {"cases": results}


def _weights_verify(observed: dict) -> tuple[bool, str]:
    cases = _weights_cases()
    got_all = observed["cases"]
    if not isinstance(got_all, list) or len(got_all) != len(cases):
        raise ValueError("wrong number of cases")
    for i, (case, got) in enumerate(zip(cases, got_all, strict=True), start=1):
        where = f"`balanced_class_weights` failed on case {i} of {len(cases)} ({case.label})"
        if "error" in got:
            return False, f"{where}: raised {got['error']}"
        if "bad_type" in got:
            return False, f"{where}: {got['bad_type']}"
        want = _ref().balanced_class_weights(case.args[0])
        value = dict(zip(got["keys"], got["values"], strict=True))
        if set(value) != set(want):
            return (
                False,
                f"{where}: the keys are {sorted(value)}, expected the classes {sorted(want)}",
            )
        if all(_close(value[c], want[c], 1e-6) for c in want):
            continue
        counts = np.bincount(case.args[0])
        n = len(case.args[0])
        named = [
            ("1 / count_c: the balanced weight is n_samples / (n_classes * count_c)", {c: 1 / counts[c] for c in want}),
            ("n_samples / count_c: divide by the number of classes too", {c: n / counts[c] for c in want}),
            ("count_c / n_samples: that is the class frequency, the weight is its inverse over n_classes", {c: counts[c] / n for c in want}),
        ]  # fmt: skip
        for explanation, wrong in named:
            if all(_close(value[c], wrong[c], 1e-6) for c in want):
                return False, f"{where}: {explanation}"
        return (
            False,
            f"{where}: got {value}, expected {want} (scikit-learn's compute_class_weight('balanced'))",
        )
    return (
        True,
        f"`balanced_class_weights`: all {len(cases)} cases equal scikit-learn's compute_class_weight('balanced')",
    )


# --- mask_iou ----------------------------------------------------------------------------


def _blob(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """A soft blob in [0, 1]: a random disc, blurred edges."""
    h, w = shape[-2:] if len(shape) == 2 else shape[1:3]
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cy, cx, r = (
        rng.uniform(0.2 * h, 0.8 * h),
        rng.uniform(0.2 * w, 0.8 * w),
        rng.uniform(0.15, 0.4) * min(h, w),
    )
    disc = np.clip(1.5 - np.hypot(yy - cy, xx - cx) / r, 0, 1)  # (h, w) soft edge
    return disc if len(shape) == 2 else np.broadcast_to(disc[None, :, :, None], shape).copy()


@cache
def _iou_cases() -> list[Case]:
    rng = _rng(4)
    empty = np.zeros((8, 8))
    square = np.zeros((8, 8))
    square[2:6, 2:6] = 1.0
    left, right = np.zeros((6, 6)), np.zeros((6, 6))
    left[:, :3], right[:, 3:] = 1.0, 1.0
    half = np.full((4, 4), 0.5)  # exactly at the threshold: background
    half[0, 0] = 0.9
    cases = [
        Case((empty, empty.copy()), {}, "both masks empty"),
        Case((square, square.copy()), {}, "perfect overlap"),
        Case((left, right), {}, "disjoint masks"),
        Case((square, empty), {}, "an empty target"),
        Case((half, half.copy()), {}, "values exactly at the threshold 0.5 are background"),
    ]
    for _ in range(5):
        shape = (int(rng.integers(6, 20)), int(rng.integers(6, 20)))
        cases.append(Case((_blob(shape, rng), (_blob(shape, rng) > 0.5).astype(float)), {}, f"two random blobs {shape}"))  # fmt: skip
    for _ in range(3):
        shape = (3, 10, 10, 1)
        p = np.stack([_blob((10, 10), rng) for _ in range(3)])[..., None]
        t = (np.stack([_blob((10, 10), rng) for _ in range(3)])[..., None] > 0.5).astype(float)
        t[0] = 0.0  # one sample with an empty target: one IoU over the whole array still counts it
        thr = float(rng.choice([0.3, 0.5, 0.7]))
        cases.append(Case((p, t), {"threshold": thr}, f"a batch {shape}, threshold={thr}"))
    return cases


def _iou_observe(namespace: dict):
    return {"cases": _float_cases(namespace["mask_iou"], [Case(tuple(a.copy() for a in c.args), c.kwargs) for c in _iou_cases()])}  # fmt: skip


def _iou_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    cases = _iou_cases()
    got_all = observed["cases"]
    if not isinstance(got_all, list) or len(got_all) != len(cases):
        raise ValueError("wrong number of cases")
    for i, (case, got) in enumerate(zip(cases, got_all, strict=True), start=1):
        where = f"`mask_iou` failed on case {i} of {len(cases)} ({case.label})"
        if "error" in got:
            msg = got["error"]
            if "ZeroDivision" in msg:
                msg += ": two empty masks agree perfectly, return 1.0"
            return False, f"{where}: raised {msg}"
        if "bad_type" in got:
            return False, f"{where}: {got['bad_type']}"
        pred, target = case.args
        thr = case.kwargs.get("threshold", 0.5)
        value, want = float(got["value"]), ref.mask_iou(pred, target, thr)
        if abs(value - want) <= 1e-6:
            continue
        if math.isnan(value):
            return (
                False,
                f"{where}: returned nan: 0 / 0 when both masks are empty; return 1.0 (two empty masks agree perfectly)",
            )
        named = [
            ("that is the Dice coefficient 2|A∩B| / (|A| + |B|), not IoU = |A∩B| / |A∪B|", ref.mask_dice(pred, target, thr)),
            ("values equal to the threshold count as foreground: use > threshold", ref.mask_iou(pred >= thr, target >= thr, 0.5)),
        ]  # fmt: skip
        if pred.ndim == 4:
            per = np.mean([ref.mask_iou(p, t, thr) for p, t in zip(pred, target, strict=True)])
            named.append(("a mean of per-sample IoUs: compute one IoU over the whole array", per))
        for explanation, wrong in named:
            if abs(wrong - want) > 1e-6 and abs(value - wrong) <= 1e-6:
                return False, f"{where}: returned {value:.4f}, expected {want:.4f}: {explanation}"
        return False, f"{where}: returned {value:.4f}, expected {want:.4f}"
    return True, f"`mask_iou`: all {len(cases)} cases correct (empty, perfect, disjoint, batches)"


# --- soft_iou_loss and edge_aware_loss (observed with tf.GradientTape) ---------------------


def _loss_and_grad(fn, args: tuple, kwargs: dict) -> dict:
    """Value, shape and the gradient with respect to ``y_pred`` (the second argument)."""
    import tensorflow as tf

    y_true, y_pred = (tf.constant(a, dtype=tf.float32) for a in args)
    try:
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = fn(y_true, y_pred, **kwargs)
        grad = tape.gradient(value, y_pred)
        value = np.asarray(tf.convert_to_tensor(value), dtype=np.float64)
    except BaseException as exc:  # noqa: BLE001 - student code
        return {"error": describe_exception(exc)}
    out = {"value": float(value) if value.ndim == 0 else value, "shape": list(value.shape)}
    out["grad"] = None if grad is None else np.asarray(grad, dtype=np.float64)
    return out


def _masks_pair(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    t = (np.stack([_blob((size, size), rng) for _ in range(n)]) > 0.5).astype(np.float32)[..., None]
    p = np.stack([_blob((size, size), rng) for _ in range(n)]).astype(np.float32)[..., None]
    return t, p


@cache
def _soft_cases() -> list[Case]:
    rng = _rng(5)
    t, _ = _masks_pair(rng, 3, 12)
    cases = [
        Case((t, t.copy()), {}, "perfect overlap"),
        Case((t, 1.0 - t), {}, "disjoint masks"),
        Case(
            (np.zeros((2, 6, 6, 1), np.float32), np.zeros((2, 6, 6, 1), np.float32)),
            {},
            "both masks empty",
        ),
    ]
    for k in range(4):
        t, p = _masks_pair(rng, 2 + k, 10)
        t[0] = (
            0.0 if k == 1 else t[0]
        )  # an empty target in one sample: per-sample IoUs differ from one over the batch
        cases.append(Case((t, p), {}, f"{2 + k} soft predictions against binary masks"))
    return cases


def _soft_observe(namespace: dict):
    fn = namespace["soft_iou_loss"]
    results = []
    for case in _soft_cases():
        obs = _loss_and_grad(fn, case.args, {})
        swapped = _loss_and_grad(fn, case.args[::-1], {})
        obs["swapped"] = swapped.get("value") if swapped.get("shape") == [] else math.nan
        results.append(obs)
    return {"cases": results}


def _scalar_problem(got: dict) -> str | None:
    if "error" in got:
        return f"raised {got['error']}"
    if list(got["shape"]) != []:
        return f"returned a tensor of shape {tuple(got['shape'])}; return one scalar, the mean over the batch"
    return None


def _soft_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    cases = _soft_cases()
    got_all = observed["cases"]
    if not isinstance(got_all, list) or len(got_all) != len(cases):
        raise ValueError("wrong number of cases")
    for i, (case, got) in enumerate(zip(cases, got_all, strict=True), start=1):
        where = f"`soft_iou_loss` failed on case {i} of {len(cases)} ({case.label})"
        problem = _scalar_problem(got)
        if problem:
            return False, f"{where}: {problem}"
        value, want = float(got["value"]), ref.soft_iou_loss(*case.args)
        if not abs(value - want) <= 1e-5:
            if math.isnan(value):
                return (
                    False,
                    f"{where}: returned nan: 0 / 0 when both masks are empty; add ε = 1e-7 to the denominator",
                )
            wrong = ref.soft_iou_loss(*case.args, per_sample=False)
            if abs(wrong - want) > 1e-5 and abs(value - wrong) <= 1e-5:
                return (
                    False,
                    f"{where}: returned {value:.5f}, expected {want:.5f}: one IoU over the whole batch; compute one per sample, then average",
                )
            return False, f"{where}: returned {value:.5f}, expected {want:.5f}"
        if not abs(float(got["swapped"]) - value) <= 1e-5:
            return (
                False,
                f"{where}: soft_iou_loss(y_true, y_pred) = {value:.5f} but soft_iou_loss(y_pred, y_true) = {float(got['swapped']):.5f}; IoU is symmetric",
            )
        grad = got["grad"]
        if grad is None:
            return (
                False,
                f"{where}: no gradient reaches y_pred (thresholding, a cast or NumPy breaks the chain): write it with keras.ops on the soft predictions",
            )
        grad = np.asarray(grad)
        if not np.all(np.isfinite(grad)):
            return False, f"{where}: the gradient with respect to y_pred is not finite"
        if case.label.startswith(("2 soft", "3 soft")) and np.max(np.abs(grad)) == 0:
            return (
                False,
                f"{where}: the gradient with respect to y_pred is zero everywhere (thresholded?): the loss cannot train anything",
            )
    return (
        True,
        f"`soft_iou_loss`: all {len(cases)} cases equal the reference, symmetric, with finite gradients (perfect overlap included)",
    )


@cache
def _edge_cases() -> list[Case]:
    rng = _rng(6)
    flat = np.full((2, 10, 10, 1), 0.3, np.float32)
    flat[:, 3:7, 3:7] = 0.8  # a square on a flat background: flat areas around it
    noisy = rng.uniform(0, 1, (2, 9, 11, 3)).astype(np.float32)
    blurred = (noisy + np.roll(noisy, 1, axis=1) + np.roll(noisy, 1, axis=2)) / 3
    shifted = np.roll(flat, 1, axis=2)
    return [
        Case((flat, flat.copy()), {}, "identical images with flat areas (zero difference)"),
        Case((flat, shifted), {}, "a square moved by one pixel"),
        Case((flat, shifted), {"weight": 0.0}, "weight=0: the MSE alone"),
        Case((noisy, blurred), {"weight": 2.5}, "an RGB image against a blurred copy, weight=2.5"),
        Case(
            (flat, np.full_like(flat, 0.55)),
            {"weight": 1.0},
            "the square against a flat grey image (MSE 0.05, edges lost)",
        ),
    ]


def _edge_observe(namespace: dict):
    fn = namespace["edge_aware_loss"]
    return {"cases": [_loss_and_grad(fn, case.args, case.kwargs) for case in _edge_cases()]}


def _edge_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    cases = _edge_cases()
    got_all = observed["cases"]
    if not isinstance(got_all, list) or len(got_all) != len(cases):
        raise ValueError("wrong number of cases")
    for i, (case, got) in enumerate(zip(cases, got_all, strict=True), start=1):
        where = f"`edge_aware_loss` failed on case {i} of {len(cases)} ({case.label})"
        problem = _scalar_problem(got)
        if problem:
            return False, f"{where}: {problem}"
        t, p = case.args
        weight = case.kwargs.get("weight", 1.0)
        value, want = float(got["value"]), ref.edge_aware_loss(t, p, weight)
        grad = got["grad"]
        if grad is None:
            return (
                False,
                f"{where}: no gradient reaches y_pred: write it with TensorFlow or keras.ops, not NumPy",
            )
        if not np.all(np.isfinite(np.asarray(grad))):
            return (
                False,
                f"{where}: the gradient is NaN: a square root (tf.norm of the difference, or the edge magnitude) has an infinite slope at 0, where the difference or the predicted edges vanish; compare the two Sobel components squared instead",
            )
        tol = 1e-4 * max(1.0, abs(want))
        if abs(value - want) <= tol:
            continue
        mse = float(np.mean((np.asarray(t, np.float64) - p) ** 2))
        named = [
            ("the edge maps were compared as magnitudes sqrt(dy^2 + dx^2); compare the two components (dy, dx) as tf.image.sobel_edges gives them", ref.edge_aware_loss(t, p, weight, magnitude=True)),
            ("`weight` is ignored", ref.edge_aware_loss(t, p, 1.0)),
            ("the MSE term is missing: the loss is MSE plus weight times the edge term", weight * ref.edge_term(t, p)),
            ("the edge term is missing: only the MSE was returned", mse),
        ]  # fmt: skip
        for explanation, wrong in named:
            if abs(wrong - want) > tol and abs(value - wrong) <= tol:
                return False, f"{where}: returned {value:.5f}, expected {want:.5f}: {explanation}"
        return (
            False,
            f"{where}: returned {value:.5f}, expected {want:.5f} (MSE {mse:.5f} + {weight:g} x edge term {ref.edge_term(t, p):.5f})",
        )
    return (
        True,
        f"`edge_aware_loss`: all {len(cases)} cases equal MSE + weight x Sobel MSE, finite gradients at zero difference and for a flat prediction",
    )


# --- transfer learning -------------------------------------------------------------------


def _fit_images(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    from cnn_course.data import load_target_task

    return load_target_task(n, seed=77)


def _weights_of(layers) -> list[np.ndarray]:
    return [
        np.array(w.numpy() if hasattr(w, "numpy") else w, copy=True)
        for la in layers
        for w in la.weights
    ]


def _base_training_argument(model, base):
    """The ``training`` argument recorded where the functional ``model`` calls ``base``
    (``None`` when it is not recorded, or the model is not functional)."""
    try:
        config = model.get_config()
    except Exception:  # noqa: BLE001 - a subclass without get_config
        return None
    for layer in config.get("layers", []) if isinstance(config, dict) else []:
        if layer.get("name") == base.name:
            for node in layer.get("inbound_nodes", []):
                if isinstance(node, dict) and "training" in node.get("kwargs", {}):
                    return node["kwargs"]["training"]
    return None


def _transfer_observe(namespace: dict):
    import keras

    from cnn_course.models import pretrained_base

    fn = namespace["build_transfer_model"]
    keras.utils.set_random_seed(3)
    base = pretrained_base(include_top=False)
    model = fn(base, 5, dropout=0.3)
    if not isinstance(model, keras.Model):
        return {
            "missing": f"`build_transfer_model` returned a {type(model).__name__}; return a keras.Model"
        }
    x = _rng(8).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    out = _numpy(model(x, training=False)).astype(np.float64)
    inside = {id(w) for w in base.weights}
    head = [w for w in model.trainable_weights if id(w) not in inside]
    rates = [float(la.rate) for la in model.layers if isinstance(la, keras.layers.Dropout)]
    obs = {
        "out": out,
        "base_trainable": bool(base.trainable),
        "trainable": int(sum(math.prod(w.shape) for w in model.trainable_weights)),
        "head_trainable": int(sum(math.prod(w.shape) for w in head)),
        "training_arg": _base_training_argument(model, base),
        "dropout_rates": rates,
    }
    before = _weights_of(base.layers)
    moving = [
        i for i, w in enumerate(w for la in base.layers for w in la.weights) if "moving" in w.path
    ]
    x_fit, y_fit = _fit_images()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="sparse_categorical_crossentropy", run_eagerly=True)  # fmt: skip
    model.fit(x_fit, y_fit % 5, epochs=1, batch_size=16, verbose=0)
    after = _weights_of(base.layers)
    change = [
        float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in zip(before, after, strict=True)
    ]
    obs["moving_change"] = max([change[i] for i in moving], default=0.0)
    obs["weight_change"] = max([c for i, c in enumerate(change) if i not in moving], default=0.0)
    return obs


def _softmax_rows(out) -> bool:
    out = np.asarray(out, dtype=np.float64)
    if out.ndim != 2 or not np.all(np.isfinite(out)):
        return False
    return bool(np.all(out >= -1e-6) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4))


HEAD_5 = 64 * 5 + 5  # Dense(5) on the 64 pooled features


def _transfer_verify(observed: dict) -> tuple[bool, str]:
    where = "`build_transfer_model(base, 5, dropout=0.3)`"
    out = np.asarray(observed["out"])
    if out.shape != (4, 5):
        return (
            False,
            f"{where} gives the output shape {out.shape} for a batch of 4, expected (4, 5)",
        )
    if not _softmax_rows(out):
        return (
            False,
            f"{where}: the outputs are not probabilities (each row >= 0, summing to 1): end with Dense(num_classes, activation='softmax')",
        )
    if observed["training_arg"] is True:
        return (
            False,
            f"{where} calls the base with training=True: call it with training=False, so that its batch norm stays in inference mode whatever the outer call says",
        )
    if observed["trainable"] != HEAD_5:
        if not observed["base_trainable"] or observed["trainable"] < HEAD_5:
            return (
                False,
                f"{where}: {observed['trainable']:,} trainable parameters, expected the head's {HEAD_5} (64 x 5 + 5)",
            )
        return (
            False,
            f"{where}: {observed['trainable']:,} trainable parameters, the head has {HEAD_5}: the base is not frozen (set base.trainable = False)",
        )
    if observed["weight_change"] > 0 or observed["moving_change"] > 0:
        return (
            False,
            f"{where}: a short fit changed the base's weights (by up to {max(observed['weight_change'], observed['moving_change']):.3g}): freeze it with base.trainable = False",
        )
    if not any(abs(r - 0.3) < 1e-9 for r in observed["dropout_rates"]):
        return (
            False,
            f"{where}: no Dropout(0.3) between the pooling and the head: use the `dropout` argument",
        )
    return (
        True,
        f"{where}: softmax over 5 classes, {HEAD_5} trainable parameters (the head), the base's weights and moving statistics unchanged by a short fit",
    )


# fine_tune


@cache
def _fine_cases() -> list[Case]:
    return [
        Case((2, 1e-4), {}, "n_layers=2, lr=1e-4"),
        Case((4, 1e-5), {}, "n_layers=4, lr=1e-5"),
    ]


def _frozen_transfer_model():
    """The lecture's frozen-feature model, built here (not with the student's function)."""
    import keras

    from cnn_course.models import pretrained_base

    base = pretrained_base(include_top=False)
    base.trainable = False
    inputs = keras.Input((32, 32, 3))
    h = base(inputs, training=False)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dropout(0.2)(h)
    outputs = keras.layers.Dense(TRANSFER_CLASSES, activation="softmax", name="head")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=FINE_TUNE_OLD_RATE), loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # fmt: skip
    return model, base


def _fine_observe(namespace: dict):
    import keras

    fn = namespace["fine_tune"]
    x_fit, y_fit = _fit_images()
    results = []
    for case in _fine_cases():
        keras.utils.set_random_seed(4)
        model, base = _frozen_transfer_model()
        ok, tuned = _call(fn, (model, base, *case.args), {})
        if not ok:
            results.append({"error": tuned})
            continue
        if not isinstance(tuned, keras.Model):
            results.append({"error": f"returned a {type(tuned).__name__}; return the keras.Model"})
            continue
        try:
            lr = float(_numpy(tuned.optimizer.learning_rate))
            loss = str(getattr(tuned, "loss", None))
            before = [_weights_of([la]) for la in base.layers]
            tuned.run_eagerly = True  # three steps: cheaper than tracing a graph
            tuned.fit(x_fit, y_fit, epochs=1, batch_size=16, verbose=0)
            after = [_weights_of([la]) for la in base.layers]
        except BaseException as exc:  # noqa: BLE001 - a model that cannot be trained
            results.append({"error": f"the fine-tuned model could not be trained ({describe_exception(exc)})"})  # fmt: skip
            continue
        layers = []
        for la, b, a in zip(base.layers, before, after, strict=True):
            changed = any(np.max(np.abs(u - v)) > 0 for u, v in zip(b, a, strict=True) if u.size)
            layers.append([la.name, bool(la.weights), isinstance(la, keras.layers.BatchNormalization), bool(la.trainable), bool(changed)])  # fmt: skip
        head = model.get_layer("head")
        results.append(
            {"lr": lr, "loss": loss, "layers": layers, "head_trainable": bool(head.trainable)}
        )
    return {"cases": results}


def _fine_verify(observed: dict) -> tuple[bool, str]:
    ref = _ref()
    cases = _fine_cases()
    got_all = observed["cases"]
    if not isinstance(got_all, list) or len(got_all) != len(cases):
        raise ValueError("wrong number of cases")
    for i, (case, got) in enumerate(zip(cases, got_all, strict=True), start=1):
        where = f"`fine_tune` failed on case {i} of {len(cases)} ({case.label})"
        if "error" in got:
            return False, f"{where}: {got['error']}"
        n_layers, lr = case.args
        layers = [(str(n), bool(w), bool(bn)) for n, w, bn, _t, _c in got["layers"]]
        want = ref.top_weighted_layers(layers, n_layers)
        moved = [str(n) for n, _w, _bn, t, c in got["layers"] if t and c]
        bn_moved = [str(n) for n, _w, bn, _t, c in got["layers"] if bn and c]
        trainable = [str(n) for n, w, bn, t, _c in got["layers"] if t and w and not bn]
        conv = [n for n, w, bn in layers if w and not bn]
        if len(want) < len(conv) and (
            sorted(moved) == sorted(conv) or sorted(trainable) == sorted(conv)
        ):
            return (
                False,
                f"{where}: every layer of the base was trained{' (batch norm included)' if bn_moved else ''}; base.trainable = True unfreezes all of them, so freeze all but the top {n_layers} weighted layers again",
            )
        if bn_moved:
            return (
                False,
                f"{where}: batch-norm layers changed during training ({', '.join(bn_moved[:3])}): keep every BatchNormalization layer frozen (trainable = False)",
            )
        if sorted(trainable) != sorted(want) or sorted(moved) != sorted(want):
            if sorted(trainable) == sorted(ref.top_layers_counting_bn(layers, n_layers)):
                return (
                    False,
                    f"{where}: trainable {trainable}, expected {want}: batch-norm layers were counted towards n_layers; count only the layers with weights that are not batch norm",
                )
            return (
                False,
                f"{where}: the layers trained were {moved or 'none'}, expected the top {n_layers} weighted layers {want}",
            )
        if not got["head_trainable"]:
            return False, f"{where}: the head (the Dense layer on top) is frozen; keep it trainable"
        if not _close(float(got["lr"]), lr, 1e-5):
            if _close(float(got["lr"]), FINE_TUNE_OLD_RATE, 1e-5):
                return (
                    False,
                    f"{where}: the optimizer's learning rate is still {FINE_TUNE_OLD_RATE:g}: the learning rate was not lowered; recompile with lr",
                )
            return (
                False,
                f"{where}: the optimizer's learning rate is {float(got['lr']):.3g}, expected lr={lr:g}",
            )
        if "sparse_categorical_crossentropy" not in str(got["loss"]):
            return (
                False,
                f"{where}: the model's loss became {got['loss']}; recompile with the loss it had (model.loss)",
            )
    return (
        True,
        f"`fine_tune`: exactly the top n_layers weighted layers trained, batch norm frozen, the new learning rate and the loss kept, in all {len(cases)} cases",
    )


# transfer_learns


def _learn_fresh(rng: np.random.Generator):
    """A split of the target task made fresh for each grading run: the child gets the training
    images with their labels and the test images without theirs."""
    from cnn_course.data import load_target_task

    n_train = TRANSFER_CLASSES * TRANSFER_PER_CLASS
    x, y = load_target_task(n_train + TRANSFER_TEST, seed=int(rng.integers(2**62)))
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:]}, {"y_test": y[n_train:]}  # fmt: skip


def _learn_observe(namespace: dict, given: dict):
    import keras

    from cnn_course.models import pretrained_base

    keras.utils.set_random_seed(_INIT_SEED)
    base = pretrained_base(include_top=False)
    model = namespace["build_transfer_model"](base, TRANSFER_CLASSES)
    if not isinstance(model, keras.Model):
        return {
            "missing": f"`build_transfer_model` returned a {type(model).__name__}; return a keras.Model"
        }
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=TRANSFER_RATE), loss="sparse_categorical_crossentropy")  # fmt: skip
    history = model.fit(np.asarray(given["x_train"]), np.asarray(given["y_train"]), epochs=TRANSFER_EPOCHS, batch_size=TRANSFER_BATCH, shuffle=True, verbose=0)  # fmt: skip
    probs = model.predict(np.asarray(given["x_test"]), batch_size=150, verbose=0)
    return {
        "loss": [float(v) for v in history.history["loss"]],
        "probs": np.asarray(probs, np.float64),
    }


def _learn_verify(observed: dict, kept: dict) -> tuple[bool, str]:
    y_test = kept["y_test"]
    probs = np.asarray(observed["probs"], dtype=np.float64)
    if probs.shape != (len(y_test), TRANSFER_CLASSES) or not np.all(np.isfinite(probs)):
        return (
            False,
            f"`build_transfer_model`'s predictions after training have shape {probs.shape} or are not finite",
        )
    accuracy = float(np.mean(probs.argmax(axis=1) == y_test))
    loss = [float(v) for v in observed["loss"]]
    n_train = TRANSFER_CLASSES * TRANSFER_PER_CLASS
    budget = (
        f"after {TRANSFER_EPOCHS} epochs on {n_train} images of six shapes the base never saw "
        f"(Adam({TRANSFER_RATE:g}), batch {TRANSFER_BATCH}; training loss {loss[0]:.2f} -> {loss[-1]:.2f}). "
        f"Threshold {TRANSFER_THRESHOLD:.2f}; with the same budget the frozen-feature reference reaches "
        f"{FROZEN_MEASURED} and the whole base trained from scratch {SCRATCH_MEASURED} (chance {1 / TRANSFER_CLASSES:.2f})"
    )
    if accuracy >= TRANSFER_THRESHOLD:
        return True, f"`build_transfer_model` reached held-out accuracy {accuracy:.2f} {budget}"
    return (
        False,
        f"`build_transfer_model` reached held-out accuracy {accuracy:.2f} only {budget}: the pretrained features are not used well",
    )


# --- the assignment ---------------------------------------------------------------------


# The rules beyond values that the checks above enforce, by function. Each is stated in the
# notebook and exercised by a visible test marked `# rule: <rule>`; tests/test_visible_rules.py
# breaks each rule in turn (breakers: tests/rules_a4_keras_training.py).
RULES: dict[str, list[str]] = {
    "step_decay": ["returns a float"],
    "exponential_decay": ["returns a float"],
    "make_callbacks": [
        "returns a list of keras.callbacks.Callback",
        "reduces on val_loss, not loss",
    ],
    "make_augmenter": [
        "keeps shape and dtype",
        "identity with training=False",
        "varies with training=True",
        "the same seed gives the same stream",
    ],
    "balanced_class_weights": ["returns a dict keyed by the int class labels"],
    "mask_iou": ["returns a float", "both masks empty gives 1.0"],
    "soft_iou_loss": ["returns one scalar", "differentiable: a finite gradient reaches y_pred"],
    "edge_aware_loss": [
        "returns one scalar",
        "finite gradients at zero difference and for a flat prediction",
    ],
    "build_transfer_model": [
        "softmax output of shape (None, num_classes)",
        "only the head is trainable",
        "does not call the base with training=True",
        "honours dropout",
    ],
    "fine_tune": [
        "batch-norm layers stay frozen",
        "the optimizer's learning rate is lr",
        "keeps the loss",
    ],
}


CHECKS = [
    Check("step_decay", 2, "step_decay", "step decay, and the same rates in a real fit", custom_observe=_step_observe, custom_verify=_step_verify),
    Check("exponential_decay", 1, "exponential_decay", "exponential decay, and the same rates in a real fit", custom_observe=_exp_observe, custom_verify=_exp_verify),
    Check("make_callbacks", 3, "make_callbacks", "ReduceLROnPlateau on val_loss: the epochs the rate drops", custom_observe=_callbacks_observe, custom_verify=_callbacks_verify),
    Check("make_augmenter", 3, "make_augmenter", "augmentation: identity at inference, random in training, seeded, label kept", custom_observe=_augment_observe, custom_verify=_augment_verify, fresh=_augment_fresh),
    Check("balanced_class_weights", 1, "balanced_class_weights", "balanced class weights, as scikit-learn's", custom_observe=_weights_observe, custom_verify=_weights_verify),
    Check("mask_iou", 2, "mask_iou", "IoU of binary masks", custom_observe=_iou_observe, custom_verify=_iou_verify),
    Check("soft_iou_loss", 2, "soft_iou_loss", "soft IoU loss: values, symmetry, gradients", custom_observe=_soft_observe, custom_verify=_soft_verify),
    Check("edge_aware_loss", 2, "edge_aware_loss", "MSE plus Sobel edge MSE: values, gradients", custom_observe=_edge_observe, custom_verify=_edge_verify),
    Check("build_transfer_model", 3, "build_transfer_model", "frozen base, pooling, dropout, softmax head", custom_observe=_transfer_observe, custom_verify=_transfer_verify),
    Check("transfer_learns", 3, "build_transfer_model", "the transfer model learns a new task in a fixed budget", custom_observe=_learn_observe, custom_verify=_learn_verify, fresh=_learn_fresh),
    Check("fine_tune", 3, "fine_tune", "fine-tuning the top layers with batch norm frozen", custom_observe=_fine_observe, custom_verify=_fine_verify),
]  # fmt: skip


def _warmup() -> None:
    """Done once in the warm parent and inherited by every child; runs no TensorFlow op."""
    import matplotlib.pyplot as plt

    from cnn_course.data import load_source_task, load_target_task

    load_source_task(14, seed=0)
    load_target_task(6, seed=0)
    _augment_batch()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    plt.close(fig)


ASSIGNMENT = Assignment(
    aid=AID,
    checks=CHECKS,
    preload=(
        "numpy",
        "matplotlib",
        "matplotlib.pyplot",
        "tensorflow",
        "keras",
        "sklearn.utils",
        "cnn_course.data",
        "cnn_course.models",
        "cnn_course.testing",
    ),
    address_space_limit=False,  # TensorFlow maps gigabytes it never touches; RSS is watched
    default_timeout=180.0,
    warmup=_warmup,
)
