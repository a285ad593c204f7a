"""The a5_inside_cnns reference and checks, in process: losses against TensorFlow, input gradients
against their defining properties, the named mistakes against the hidden cases, the shortcut data."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from autograder.checks import a5_inside_cnns as a5
from autograder.core import decode, encode, load_assignment
from autograder.reference import inside_cnns as ref
from cnn_course.data import load_shortcut, shortcut_test_sets

ASSIGNMENT = load_assignment("a5_inside_cnns")


def _run(check_name: str, namespace: dict):
    """Observe and verify through the same encoding the fast harness uses."""
    check = ASSIGNMENT.check(check_name)
    return check.verify(decode(*encode(check.observe(namespace))))


def test_losses_equal_tensorflow():
    """Do the float64 NumPy losses equal the TensorFlow ones and tf.image.total_variation?"""
    rng = np.random.default_rng(0)
    for shape in [(1, 4, 4, 3), (2, 5, 3, 4), (3, 8, 8, 16)]:
        a, g = rng.random(shape).astype("float32"), rng.random(shape).astype("float32")
        np.testing.assert_allclose(ref.gram_np(a), ref.gram_tf(a).numpy(), rtol=1e-5)
        np.testing.assert_allclose(
            ref.gram_np(a), tf.einsum("bhwc,bhwd->bcd", a, a).numpy(), rtol=1e-5
        )
        np.testing.assert_allclose(
            ref.style_layer_loss_np(a, g), float(ref.style_layer_loss_tf(a, g)), rtol=1e-4
        )
        np.testing.assert_allclose(
            ref.total_variation_np(a),
            float(tf.reduce_sum(tf.image.total_variation(tf.constant(a)))),
            rtol=1e-5,
        )


def test_gram_invariances():
    """Is the Gram matrix unchanged by permuting positions, and P G P^T for permuted channels?"""
    rng = np.random.default_rng(1)
    f = rng.random((2, 6, 5, 4))
    g = ref.gram_np(f)
    shuffled = f.reshape(2, 30, 4)[:, rng.permutation(30)].reshape(f.shape)
    np.testing.assert_allclose(ref.gram_np(shuffled), g, rtol=1e-12)
    perm = [2, 0, 3, 1]
    p = np.eye(4)[perm]
    np.testing.assert_allclose(ref.gram_np(f[..., perm]), p @ g @ p.T, rtol=1e-12)


def test_named_loss_mistakes_change_the_hidden_answers():
    """Does every named loss mistake give a different answer on some hidden case (else the
    feedback could never name it)?"""
    for variant in ("normalised_hw", "normalised_hwc", "scrambled"):
        assert any(
            not np.allclose(ref.gram_np(f, variant), ref.gram_np(f)) for _, f in a5._gram_cases()
        ), variant
    for variant in ("no_norm", "no_four", "mean", "gram_normalised"):
        assert any(
            abs(ref.style_layer_loss_np(a, b, variant) - ref.style_layer_loss_np(a, b)) > 1e-6
            for _, a, b in a5._style_layer_cases()
        ), variant
    assert any(
        ref.total_variation_np(x, squares=True) != ref.total_variation_np(x)
        for _, x in a5._tv_cases()
    )
    for variant in ("unweighted", "mean"):
        assert any(
            abs(ref.style_loss_np(s, g, w, variant) - ref.style_loss_np(s, g, w)) > 1e-6
            for _, s, g, w in a5._style_cases()
        ), variant


def test_saliency_of_a_linear_model_is_its_weights():
    """On a model linear before its softmax, is the reference saliency max_c |w_class|, and the
    post-softmax saliency something else?"""
    model = a5.linear_model()
    x = np.random.default_rng(2).random((3, *a5.LINEAR_SHAPE)).astype("float32")
    w = a5._linear_weights()[0][:, 2].reshape(a5.LINEAR_SHAPE)
    got = ref.saliency(model, x, 2)
    np.testing.assert_allclose(got, np.broadcast_to(np.abs(w).max(-1), got.shape), rtol=1e-5)
    assert not np.allclose(ref.saliency(model, x, 2, post_softmax=True), got, rtol=1e-2)


def test_step_variants_differ_from_the_reference():
    """Do the named class-visualisation, Deep Dream and FGSM mistakes change the hidden answers?"""
    for _, name, x, c, lr, reg in a5._classvis_cases()[:2]:
        model = a5._model(name)
        want = ref.class_visualization_step(model, x, c, lr, reg)
        for v in ("post_softmax", "descent", "normalised", "l2_plus"):
            assert not np.allclose(ref.class_visualization_step(model, x, c, lr, reg, v), want), v
    model = a5._model("base")
    _, _, x, layer, step = a5._dream_cases()[0]
    want = ref.deep_dream_step(model, x, layer, step)
    for v in ("descent", "raw", "max_norm"):
        assert not np.allclose(ref.deep_dream_step(model, x, layer, step, v), want), v
    _, _, x, layer, step = a5._dream_cases()[-1]
    assert not np.allclose(
        ref.deep_dream_step(model, x, layer, step, "clipped"),
        ref.deep_dream_step(model, x, layer, step),
    )
    (_, _, x, y, eps), (_, _, xs, ys, eps_s) = a5._fgsm_cases()
    want = ref.fgsm(model, x, y, eps)
    for v in ("no_clip", "gradient", "descent"):
        assert np.mean(np.abs(ref.fgsm(model, x, y, eps, v) - want) > 1e-4) > 0.01, v
    sharp = a5._model("sharp")
    saturated = ref.fgsm(sharp, xs, ys, eps_s, "probabilities")
    assert np.mean(np.abs(saturated - ref.fgsm(sharp, xs, ys, eps_s)) > 1e-4) > 0.01


def test_fgsm_reference_properties():
    """Does the reference FGSM stay within eps and [0, 1], and raise the loss on the hidden cases?"""
    for _, name, x, y, eps in a5._fgsm_cases():
        model = a5._model(name)
        x_adv = ref.fgsm(model, x, y, eps)
        assert np.abs(x_adv - x).max() <= eps + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
        assert np.all(ref.ce_per_image(model, x_adv, y) >= ref.ce_per_image(model, x, y) - 1e-6)


def test_cross_reader_and_has_cross_read_the_cue():
    """Does the template match find exactly the generator's crosses, and does the grader's cue
    reader model score 1 on the aligned set and 0 on the swapped one?"""
    x, _, cue = load_shortcut("marker", 400, 0.95, seed=3, return_cue=True)
    np.testing.assert_array_equal(ref.has_cross(x), cue)
    aligned, swapped, _ = a5._gap_sets()
    assert ref.shortcut_gap(a5.cue_reader(), aligned, swapped) == 1.0
    assert ref.shortcut_gap(a5.inverted_reader(), aligned, swapped) == -1.0


def test_checks_pass_the_reference_and_name_a_mistake():
    """Do the loss checks give full marks to the reference (as TensorFlow code) and name the
    normalised Gram matrix, a NaN gradient at equality and a loss computed with NumPy?"""

    def gram(features):
        return tf.constant(ref.gram_np(features.numpy()), tf.float32)

    def gram_normalised(features):
        _, h, w, _ = features.shape
        return gram(features) / (h * w)

    def content(p, f):
        return 0.5 * tf.reduce_sum(tf.square(f - p))

    @tf.custom_gradient
    def nan_at_zero(d):  # the right value, and a norm's gradient: NaN at d = 0
        return 0.5 * tf.reduce_sum(tf.square(d)), lambda up: up * d / tf.norm(d)

    def content_nan(p, f):
        return nan_at_zero(f - p)

    def content_numpy(p, f):
        return 0.5 * np.sum((np.asarray(f) - np.asarray(p)) ** 2)

    assert _run("gram_matrix", {"gram_matrix": gram}).passed
    result = _run("gram_matrix", {"gram_matrix": gram_normalised})
    assert not result.passed and "normalised (divided by H*W)" in result.message
    assert _run("content_loss", {"content_loss": content}).passed
    result = _run("content_loss", {"content_loss": content_nan})
    assert not result.passed and "gradient is NaN" in result.message
    result = _run("content_loss", {"content_loss": content_numpy})
    assert not result.passed and "not differentiable" in result.message


@pytest.mark.slow
def test_plain_training_learns_the_cross():
    """Does the generator make the cue easier than the shape: a plainly trained CNN (the grader's
    budget) shows a large gap, so that the fix check measures something?"""
    x, y = load_shortcut("marker", a5.SHORTCUT_TRAIN, a5.SHORTCUT_ALIGNED, seed=21)
    tests = shortcut_test_sets("marker", 200, seed=121)
    model = ref.train_shortcut_model(x, y, seed=21, epochs=a5.SHORTCUT_EPOCHS)
    gap = ref.shortcut_gap(model, tests["aligned"], tests["swapped"])
    assert gap > 2 * a5.SHORTCUT_MAX_GAP, gap
