"""Lecture 07's rules for dropout, batch normalisation and augmentation, checked against Keras.

Each rule the lecture states is written here in NumPy and compared with the Keras layer on the
same inputs; a second case shows that a wrong variant of the rule (no rescaling, unbiased variance,
another epsilon, the smoothing weights swapped) gives different numbers, so each check can fail.
"""

import pathlib

import numpy as np
import pytest

keras = pytest.importorskip("keras")

ROOT = pathlib.Path(__file__).resolve().parents[1]
EPSILON = 1e-3  # Keras's BatchNormalization default


def batch_norm_numpy(x, gamma, beta, mean, variance, epsilon=EPSILON):
    """y = gamma * (x - mean) / sqrt(variance + epsilon) + beta, per channel (last axis)."""
    return gamma * (x - mean) / np.sqrt(variance + epsilon) + beta


def batch_moments(x, ddof=0):
    """Per-channel mean and variance over every axis but the last: (N, H, W, C) -> (C,), (C,)."""
    axes = tuple(range(x.ndim - 1))
    return x.mean(axis=axes), x.var(axis=axes, ddof=ddof)


def bn_layer(channels, momentum=0.99, gamma=None, beta=None, mean=None, variance=None, ndim=2):
    """A BatchNormalization layer built for ``ndim``-D inputs with the given weights (Keras's initial ones where None)."""
    layer = keras.layers.BatchNormalization(momentum=momentum)
    layer.build((None,) * (ndim - 1) + (channels,))
    ones, zeros = np.ones(channels, "float32"), np.zeros(channels, "float32")
    layer.set_weights(
        [
            np.asarray(v if v is not None else default, "float32")
            for v, default in [(gamma, ones), (beta, zeros), (mean, zeros), (variance, ones)]
        ]
    )
    return layer


# ---------------------------------------------------------------- dropout


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_dropout_is_inverted_dropout(rate):
    """Does Keras's Dropout(rate) zero inputs and multiply every survivor by exactly 1/(1 - rate)?"""
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=(50, 200)).astype("float32")
    out = np.asarray(keras.layers.Dropout(rate, seed=1)(x, training=True))
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - rate), rtol=1e-6)
    # the wrong variant: survivors left as they are (dropout without rescaling)
    assert not np.allclose(out[kept], x[kept], rtol=1e-3)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.9])
def test_dropout_rate_is_the_fraction_dropped(rate):
    """Is `rate` the probability of dropping (not of keeping), within 4 binomial standard deviations?"""
    n = 200_000
    out = np.asarray(keras.layers.Dropout(rate, seed=2)(np.ones((1, n), "float32"), training=True))
    dropped = float((out == 0).mean())
    sigma = np.sqrt(rate * (1 - rate) / n)
    assert abs(dropped - rate) < 4 * sigma
    assert abs(dropped - (1 - rate)) > 4 * sigma or rate == 0.5  # not the keep probability
    assert out.mean() == pytest.approx(1.0, abs=8 * sigma / (1 - rate))  # the mean is kept


def test_dropout_is_the_identity_at_inference():
    """Does Dropout return its input unchanged with training=False and inside predict()?"""
    x = np.random.default_rng(3).normal(size=(8, 16)).astype("float32")
    layer = keras.layers.Dropout(0.5, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)  # the default is inference
    model = keras.Sequential([keras.Input((16,)), layer])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not np.array_equal(np.asarray(layer(x, training=True)), x)  # the check can fail


# ---------------------------------------------------------------- batch normalisation


def _images(seed=0, shape=(4, 5, 5, 3)):
    """A small batch whose channels have different means and spreads, one of them tiny
    (variance ~1e-4, so that epsilon = 1e-3 matters)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * [2.0, 0.5, 0.01] + [3.0, -1.0, 0.2]).astype("float32")


def test_batch_norm_training_mode_uses_biased_batch_statistics():
    """Does BN with training=True equal gamma (x - mu_B)/sqrt(var_B + 1e-3) + beta, var_B biased (/m)?"""
    x = _images()  # (N, H, W, C): statistics over N*H*W = 100 values per channel
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, -1.0])
    layer = bn_layer(3, gamma=gamma, beta=beta, ndim=4)
    got = np.asarray(layer(x, training=True))
    mean, var = batch_moments(x.astype("float64"))
    np.testing.assert_allclose(got, batch_norm_numpy(x, gamma, beta, mean, var), atol=1e-4)
    # wrong variants: unbiased variance (/(m - 1)), PyTorch's epsilon 1e-5
    _, unbiased = batch_moments(x.astype("float64"), ddof=1)
    assert np.abs(got - batch_norm_numpy(x, gamma, beta, mean, unbiased)).max() > 1e-3
    assert np.abs(got - batch_norm_numpy(x, gamma, beta, mean, var, epsilon=1e-5)).max() > 1e-2


def test_batch_norm_of_a_small_batch_by_hand():
    """Do the lecture's four numbers [1, 2, 3, 6] with gamma 2, beta 1 give Keras's outputs?"""
    x = np.array([[1.0], [2.0], [3.0], [6.0]], "float32")  # one channel, m = 4
    mean, var = 3.0, (4 + 1 + 0 + 9) / 4  # biased: 3.5
    expected = 2 * (x - mean) / np.sqrt(var + 1e-3) + 1
    got = np.asarray(bn_layer(1, gamma=[2.0], beta=[1.0])(x, training=True))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got[:, 0], [-1.1378, -0.0689, 1.0, 4.2067], atol=1e-3)


def test_batch_norm_inference_mode_uses_the_moving_statistics():
    """Does BN with training=False normalise with the moving mean and variance, not the batch's?"""
    x = _images(seed=1)
    params = dict(gamma=[1.5, 0.5, 2.0], beta=[0.1, -0.2, 0.3])
    moving = dict(mean=[2.0, -0.5, 0.0], variance=[3.0, 0.2, 0.05])
    layer = bn_layer(3, **params, **moving, ndim=4)
    got = np.asarray(layer(x, training=False))
    expected = batch_norm_numpy(
        x, np.array(params["gamma"]), np.array(params["beta"]), *map(np.array, moving.values())
    )
    np.testing.assert_allclose(got, expected, atol=1e-4)
    batch_stats = batch_norm_numpy(
        x, np.array(params["gamma"]), np.array(params["beta"]), *batch_moments(x)
    )
    assert np.abs(got - batch_stats).max() > 0.1  # the check can fail
    np.testing.assert_array_equal(np.asarray(layer.moving_mean), moving["mean"])  # not updated


def test_batch_norm_inference_output_of_one_image_ignores_the_rest_of_the_batch():
    """In inference mode, is an image's output independent of its batch (and in training mode not)?"""
    x = _images(seed=2)
    other = x.copy()
    other[1:] *= 3.0  # same first image, different companions
    layer = bn_layer(3, mean=[1.0, 0.0, 0.0], variance=[2.0, 1.0, 1.0], ndim=4)
    np.testing.assert_array_equal(
        np.asarray(layer(x, training=False))[0], np.asarray(layer(other, training=False))[0]
    )
    fresh = bn_layer(3, ndim=4)
    assert not np.allclose(
        np.asarray(fresh(x, training=True))[0], np.asarray(fresh(other, training=True))[0]
    )


def test_moving_averages_follow_exponential_smoothing_over_several_steps():
    """Is moving := momentum * moving + (1 - momentum) * batch statistic (biased variance), step after step?"""
    momentum = 0.9
    rng = np.random.default_rng(4)
    batches = [
        (rng.normal(size=(6, 3)) * [1, 2, 3] + [5, -2, 0]).astype("float32") for _ in range(7)
    ]
    layer = bn_layer(3, momentum=momentum)
    mean, var = np.zeros(3), np.ones(3)  # Keras's starting values
    wrong_alpha, wrong_unbiased = (mean.copy(), var.copy()), (mean.copy(), var.copy())
    for x in batches:
        layer(x, training=True)
        mu_b, var_b = batch_moments(x.astype("float64"))
        mean = momentum * mean + (1 - momentum) * mu_b
        var = momentum * var + (1 - momentum) * var_b
        # wrong variants: the weights swapped (alpha = momentum in the seed's formula); PyTorch's unbiased variance
        wrong_alpha = tuple(
            (1 - momentum) * w + momentum * s
            for w, s in zip(wrong_alpha, (mu_b, var_b), strict=True)
        )
        wrong_unbiased = (
            momentum * wrong_unbiased[0] + (1 - momentum) * mu_b,
            momentum * wrong_unbiased[1] + (1 - momentum) * x.var(axis=0, ddof=1),
        )
    np.testing.assert_allclose(np.asarray(layer.moving_mean), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.moving_variance), var, rtol=1e-5)
    assert np.abs(np.asarray(layer.moving_mean) - wrong_alpha[0]).max() > 0.5
    assert np.abs(np.asarray(layer.moving_variance) - wrong_unbiased[1]).max() > 0.05


@pytest.mark.parametrize("momentum,steps", [(0.99, 50), (0.9, 20)])
def test_moving_mean_lags_as_one_minus_momentum_to_the_power_of_steps(momentum, steps):
    """With batches of constant mean c, is the moving mean c (1 - momentum^t) after t steps (63% at t = 100 for 0.99)?"""
    c = 5.0
    x = (c + np.array([[-1.0], [1.0]])).astype("float32")  # mean 5, biased variance 1
    layer = bn_layer(1, momentum=momentum)
    for _ in range(steps):
        layer(x, training=True)
    assert float(np.asarray(layer.moving_mean)[0]) == pytest.approx(
        c * (1 - momentum**steps), rel=1e-4
    )
    assert 1 - 0.99**100 == pytest.approx(0.634, abs=1e-3)


def test_frozen_batch_norm_uses_and_keeps_its_moving_statistics():
    """With trainable=False, does BN normalise with its moving statistics and leave them alone, even with training=True?"""
    x = _images(seed=5).reshape(-1, 3)
    moving = dict(mean=[1.0, -0.5, 0.1], variance=[2.0, 0.5, 0.01])
    gamma, beta = np.array([1.2, 0.8, 1.0]), np.array([0.0, 0.5, -0.5])
    frozen = bn_layer(3, gamma=gamma, beta=beta, **moving)
    frozen.trainable = False
    got = np.asarray(frozen(x, training=True))
    np.testing.assert_allclose(
        got, batch_norm_numpy(x, gamma, beta, *map(np.array, moving.values())), atol=1e-4
    )
    np.testing.assert_array_equal(np.asarray(frozen.moving_mean), np.float32(moving["mean"]))
    np.testing.assert_array_equal(
        np.asarray(frozen.moving_variance), np.float32(moving["variance"])
    )
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 4

    trainable = bn_layer(3, gamma=gamma, beta=beta, **moving)  # the same layer, not frozen
    out = np.asarray(trainable(x, training=True))
    assert np.abs(out - got).max() > 0.1
    assert not np.allclose(np.asarray(trainable.moving_mean), moving["mean"])


def test_frozen_batch_norm_stays_frozen_inside_fit():
    """Inside model.fit, does a BN layer with trainable=False keep gamma, beta and its moving statistics?"""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(6)
    x = (rng.normal(size=(64, 4)) * 3 + 2).astype("float32")
    y = (x.sum(axis=1) > 8).astype("int64")
    frozen, free = keras.layers.BatchNormalization(), keras.layers.BatchNormalization()
    model = keras.Sequential([keras.Input((4,)), frozen, free, keras.layers.Dense(2)])
    frozen.trainable = False
    before = frozen.get_weights()  # copies: gamma, beta, moving mean, moving variance
    model.compile(
        optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for w, old in zip(frozen.get_weights(), before, strict=True):
        np.testing.assert_array_equal(np.asarray(w), old)
    assert not np.allclose(np.asarray(free.moving_mean), 0.0)  # the other BN layer did update


# ---------------------------------------------------------------- data augmentation

AUGMENTATIONS = {
    "flip": lambda: keras.layers.RandomFlip("horizontal_and_vertical", seed=0),
    "rotation": lambda: keras.layers.RandomRotation(0.1, seed=0),
    "zoom": lambda: keras.layers.RandomZoom(0.2, seed=0),
    "translation": lambda: keras.layers.RandomTranslation(0.2, 0.2, seed=0),
}


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_augmentation_is_the_identity_at_inference(name):
    """Does each augmentation layer return its input unchanged with training=False (and change it with training=True)?"""
    x = np.random.default_rng(7).uniform(size=(8, 12, 12, 3)).astype("float32")
    layer = AUGMENTATIONS[name]()
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    assert not np.allclose(np.asarray(layer(x, training=True)), x)


def test_augmentation_is_off_in_predict_and_on_when_called_alone():
    """Inside predict() are the augmentation layers off, while a bare call (training defaults to True) augments?"""
    x = np.random.default_rng(8).uniform(size=(8, 12, 12, 3)).astype("float32")
    augment = keras.Sequential(
        [keras.Input((12, 12, 3))] + [make() for make in AUGMENTATIONS.values()]
    )
    np.testing.assert_array_equal(augment.predict(x, verbose=0), x)
    flip = AUGMENTATIONS["flip"]()
    assert not np.allclose(np.asarray(flip(x)), x)


def test_random_flip_gives_the_image_or_its_mirror():
    """Is every output of RandomFlip("horizontal") either the image or its left-right mirror, both occurring?"""
    x = np.random.default_rng(9).uniform(size=(32, 6, 6, 1)).astype("float32")
    out = np.asarray(keras.layers.RandomFlip("horizontal", seed=1)(x, training=True))
    same = [np.array_equal(o, i) for o, i in zip(out, x, strict=True)]
    mirrored = [np.allclose(o, i[:, ::-1]) for o, i in zip(out, x, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True)) and any(same) and any(mirrored)


# ---------------------------------------------------------------- the worked numbers of the lecture and its answers


def test_worked_numbers_in_the_lecture_and_answers_match_keras():
    """Do the hand numbers of lecture 07 and its answers (BN of [2, 4, 4, 6], 459 steps, 39 epochs) match Keras?"""
    from test_course_answers import _answer, _markdown

    x = np.array([[2.0], [4.0], [4.0], [6.0]], "float32")
    layer = bn_layer(1, gamma=[0.5], beta=[-1.0])
    y = np.asarray(layer(x, training=True))[:, 0]
    np.testing.assert_allclose(y, [-1.7069, -1.0, -1.0, -0.2931], atol=1e-4)
    np.testing.assert_allclose(np.asarray(layer.moving_mean), [0.04], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(layer.moving_variance), [1.01], rtol=1e-5)
    text = _answer("07", 2)
    for number in ["(-1.7069, -1, -1, -0.2931)", "**0.04**", "**1.01**"]:
        assert number in text, number

    steps = int(np.ceil(np.log(0.01) / np.log(0.99)))
    assert steps == 459 and int(np.ceil(steps / (192 // 16))) == 39
    assert "**459 steps**" in _answer("07", 3) and "**39 epochs**" in _answer("07", 3)

    lecture = _markdown(next((ROOT / "course").glob("07_*.ipynb")))
    assert "$1 - 0.99^{100} = 63\\%$" in lecture and round(100 * (1 - 0.99**100)) == 63
    assert round(np.log(0.05) / np.log(0.99)) == 298 and round(np.log(0.05) / np.log(0.9)) == 28
    assert "\\ln 0.99 \\approx 298$" in lecture and "\\ln 0.9 \\approx 28$" in lecture
    assert "(-1.138, -0.069, 1, 4.207)" in lecture
