"""The a4_keras_training reference and checks, in process: NumPy formulas against Keras,
TensorFlow and scikit-learn; the target task; the known mistakes are told apart."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import jaccard_score
from sklearn.utils.class_weight import compute_class_weight

from autograder.checks import a4_keras_training as a4
from autograder.core import load_assignment
from autograder.reference import keras_training as ref
from cnn_course.data import SOURCE_CLASSES, TARGET_CLASSES, load_target_task
from cnn_course.models import pretrained_base

ASSIGNMENT = load_assignment("a4_keras_training")


def _keras_plateau_rates(script, lr0, patience, factor, min_lr) -> list[float]:
    """Keras's own ReduceLROnPlateau driven epoch by epoch (no fit: its hooks called directly)."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr0), loss="mse")
    callback = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", patience=patience, factor=factor, min_lr=min_lr
    )
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(script):
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        callback.on_epoch_end(epoch, {"val_loss": float(value)})
    return rates


def test_plateau_rates_equal_keras():
    """Does the NumPy ReduceLROnPlateau give the rates Keras's callback gives on scripted
    validation losses (the grader's cases, and random sequences with ties and tiny gains)?"""
    rng = np.random.default_rng(0)
    for case in a4._plateau_cases():
        s = {"patience": 3, "factor": 0.5, "min_lr": 1e-5, **case.kwargs}
        want = ref.plateau_rates(a4.PLATEAU_VAL, s["lr0"], s["patience"], s["factor"], s["min_lr"])
        got = _keras_plateau_rates(
            a4.PLATEAU_VAL, s["lr0"], s["patience"], s["factor"], s["min_lr"]
        )
        np.testing.assert_allclose(got, want, rtol=1e-6)
    for _ in range(20):
        steps = rng.choice(
            [0.0, 0.0, 5e-5, 0.05], size=15
        )  # ties, gains below min_delta, real gains
        script = list(1.0 - np.cumsum(steps))
        patience, factor = int(rng.integers(1, 4)), float(rng.choice([0.1, 0.3, 0.5]))
        want = ref.plateau_rates(script, 0.01, patience, factor, 2e-4)
        np.testing.assert_allclose(
            _keras_plateau_rates(script, 0.01, patience, factor, 2e-4), want, rtol=1e-6
        )


def test_the_grader_fit_records_the_rates_keras_sets():
    """Does the grader's scripted fit record, epoch by epoch, the rates a real ReduceLROnPlateau
    on val_loss sets (EarlyStopping aside)?"""
    case = a4._plateau_cases()[0]
    callback = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", patience=3, factor=0.5, min_lr=1e-5
    )
    scripted = {"val_loss": a4.PLATEAU_VAL, "loss": a4.PLATEAU_TRAIN}
    got = a4._rates_in_fit([callback], a4.PLATEAU_EPOCHS, 1e-3, scripted)
    np.testing.assert_allclose(got, a4._plateau_expected(case), rtol=1e-6)


def test_the_plateau_script_tells_loss_from_val_loss():
    """Does a callback on `loss` give other rates than one on `val_loss` in every grader case?"""
    for case in a4._plateau_cases():
        assert a4._plateau_expected(case) != a4._plateau_expected(case, monitored=a4.PLATEAU_TRAIN)


def test_schedule_variants_change_some_case():
    """Does every schedule mistake the feedback names change the answer on some hidden case?"""
    for right, variants, cases in [
        (ref.step_decay, (ref.step_decay_late, ref.step_decay_smooth), a4._step_cases()),
        (ref.exponential_decay, (ref.exponential_decay_late,), a4._exp_cases()),
    ]:
        for variant in variants:
            assert any(variant(*c.args, **c.kwargs) != right(*c.args, **c.kwargs) for c in cases)


def test_class_weights_equal_scikit_learn():
    """Does the reference give scikit-learn's compute_class_weight('balanced') on random labels?"""
    rng = np.random.default_rng(1)
    for _ in range(20):
        y = rng.choice(int(rng.integers(2, 9)), size=int(rng.integers(10, 400)))
        classes = np.unique(y)
        want = compute_class_weight("balanced", classes=classes, y=y)
        got = ref.balanced_class_weights(y)
        assert list(got) == classes.tolist()
        np.testing.assert_allclose(list(got.values()), want)


def test_mask_iou_equals_jaccard():
    """Is mask_iou scikit-learn's Jaccard score of the thresholded masks, 1.0 for two empty ones?"""
    rng = np.random.default_rng(2)
    for _ in range(20):
        p, t = rng.random((3, 7, 9)), rng.random((3, 7, 9)) > 0.6
        want = jaccard_score(t.ravel(), p.ravel() > 0.4)
        assert ref.mask_iou(p, t, threshold=0.4) == pytest.approx(want)
    assert ref.mask_iou(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0


def test_soft_iou_equals_keras_ops():
    """Does the NumPy soft IoU loss equal the same formula in keras.ops, per sample and averaged?"""
    rng = np.random.default_rng(3)
    t = (rng.random((4, 8, 8, 1)) > 0.5).astype("float32")
    p = rng.random((4, 8, 8, 1)).astype("float32")
    inter = keras.ops.sum(t * p, axis=(1, 2, 3))
    union = keras.ops.sum(t, axis=(1, 2, 3)) + keras.ops.sum(p, axis=(1, 2, 3)) - inter
    want = float(keras.ops.mean(1.0 - inter / (union + 1e-7)))
    assert ref.soft_iou_loss(t, p) == pytest.approx(want, rel=1e-5)
    assert ref.soft_iou_loss(t, t) == pytest.approx(0.0, abs=1e-6)


def test_sobel_and_edge_loss_equal_tensorflow():
    """Is the NumPy Sobel filter tf.image.sobel_edges, and the edge-aware loss the same in TF?"""
    rng = np.random.default_rng(4)
    x = rng.random((2, 9, 11, 3)).astype("float32")
    y = rng.random((2, 9, 11, 3)).astype("float32")
    sx, sy = tf.image.sobel_edges(tf.constant(x)), tf.image.sobel_edges(tf.constant(y))
    np.testing.assert_allclose(ref.sobel_edges(x), sx.numpy(), atol=1e-5)
    want = float(tf.reduce_mean((x - y) ** 2) + 2.0 * tf.reduce_mean((sx - sy) ** 2))
    assert ref.edge_aware_loss(x, y, 2.0) == pytest.approx(want, rel=1e-5)


def test_edge_cases_separate_the_mistakes():
    """Does each named edge-loss mistake change the value on some hidden case?"""
    cases = a4._edge_cases()
    for kwargs in [dict(magnitude=True)]:
        assert any(
            abs(ref.edge_aware_loss(*c.args, c.kwargs.get("weight", 1.0), **kwargs) - ref.edge_aware_loss(*c.args, c.kwargs.get("weight", 1.0))) > 1e-3
            for c in cases
        )  # fmt: skip
    assert any(c.kwargs.get("weight", 1.0) not in (1.0,) for c in cases)


def test_top_weighted_layers_of_the_base():
    """Are the top weighted layers of the shipped base its last convolutions, batch norm skipped?"""
    base = pretrained_base(include_top=False)
    layers = [
        (la.name, bool(la.weights), isinstance(la, keras.layers.BatchNormalization))
        for la in base.layers
    ]
    assert ref.top_weighted_layers(layers, 2) == ["block3_conv1", "block3_conv2"]
    assert ref.top_layers_counting_bn(layers, 2) == ["block3_conv2"]
    assert len(ref.top_weighted_layers(layers, 6)) == 6


def test_target_task_is_new_seeded_and_balanced():
    """Is the hidden target task seeded, class-balanced, in [0, 1], and made of classes the base
    never saw?"""
    x, y = load_target_task(61, seed=5, size=24)
    x2, y2 = load_target_task(61, seed=5, size=24)
    assert x.shape == (61, 24, 24, 3) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(load_target_task(61, seed=6, size=24)[0], x)
    counts = np.bincount(y, minlength=len(TARGET_CLASSES))
    assert counts.max() - counts.min() <= 1
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert not set(TARGET_CLASSES) & set(SOURCE_CLASSES)


def test_points_and_rules():
    """Do the checks give 25 points, and does every rule name a graded function?"""
    assert ASSIGNMENT.max_score == 25
    assert set(a4.RULES) <= {c.function for c in ASSIGNMENT.checks}
