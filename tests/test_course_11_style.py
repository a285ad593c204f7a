"""Lecture 11's formulas, asserted against NumPy, TensorFlow and Keras (kept fast: no notebook, no optimisation run).

The lecture writes the losses of style transfer inline, on NHWC feature maps with a batch dimension: the Gram
matrix ``tf.einsum("bhwc,bhwd->bcd", f, f)`` (not normalised), the content loss 1/2 sum (F - P)^2, the layer style
loss sum (G - A)^2 / (4 C^2 (HW)^2) summed over the batch, total variation as absolute differences of neighbouring
pixels (``tf.image.total_variation`` summed over the batch), and Adam written out by hand on a ``tf.Variable``.
Each is checked here against a hand computation or against TensorFlow / Keras, and each check has a wrong
variant that must fail it.
"""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

RNG = np.random.default_rng(11)

# ---------------------------------------------------------------- the lecture's formulas, as it writes them


def gram(f):
    """(B, H, W, C) -> (B, C, C), not normalised."""
    return tf.einsum("bhwc,bhwd->bcd", f, f)


def content_loss(f, p):
    return 0.5 * tf.reduce_sum((f - p) ** 2)


def layer_style_loss(f, a):
    """sum over the batch of (G - A)^2, divided by 4 C^2 (H W)^2."""
    _, h, w, c = f.shape
    return tf.reduce_sum((gram(f) - a) ** 2) / (4 * c**2 * (h * w) ** 2)


def total_variation(x):
    return tf.reduce_sum(tf.abs(x[:, 1:] - x[:, :-1])) + tf.reduce_sum(
        tf.abs(x[:, :, 1:] - x[:, :, :-1])
    )


# ---------------------------------------------------------------- references in NumPy


def gram_by_loops(f: np.ndarray) -> np.ndarray:
    """G[n, i, j] = sum over positions k of F[k, i] F[k, j], one channel pair at a time."""
    b, h, w, c = f.shape
    out = np.zeros((b, c, c))
    for n in range(b):
        flat = f[n].reshape(h * w, c)  # (positions, channels)
        for i in range(c):
            for j in range(c):
                out[n, i, j] = np.sum(flat[:, i] * flat[:, j])
    return out


def tv_numpy(x: np.ndarray) -> np.ndarray:
    """Per image: sum of |vertical| and |horizontal| differences over rows, columns and channels."""
    return np.abs(np.diff(x, axis=1)).sum(axis=(1, 2, 3)) + np.abs(np.diff(x, axis=2)).sum(
        axis=(1, 2, 3)
    )


def feature_map(shape=(2, 5, 7, 4)) -> np.ndarray:
    """Post-ReLU-like features: non-negative, with zeros."""
    return np.maximum(RNG.normal(size=shape), 0.0)


# ---------------------------------------------------------------- Gram matrix


def test_gram_matrix_matches_loops_and_the_worked_example():
    """Does the einsum Gram matrix equal the channel-pair loops in NumPy, (B, C, C) and not normalised?"""
    f = feature_map()
    g = gram(tf.constant(f)).numpy()
    assert g.shape == (2, 4, 4)
    np.testing.assert_allclose(g, gram_by_loops(f), rtol=1e-12)
    np.testing.assert_allclose(g[1], f[1].reshape(-1, 4).T @ f[1].reshape(-1, 4), rtol=1e-12)
    small = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]]).reshape(1, 1, 3, 2)
    np.testing.assert_array_equal(gram(tf.constant(small))[0], [[5, 2], [2, 10]])
    # wrong variants: divided by H W, and the NCHW-style reshape without the transpose
    assert not np.allclose(g / (5 * 7), gram_by_loops(f))
    wrong_layout = np.einsum("bij,bkj->bik", f.reshape(2, 4, 35), f.reshape(2, 4, 35))
    assert not np.allclose(wrong_layout, g)


def test_gram_matrix_forgets_positions():
    """Does shuffling the positions of a feature map leave its Gram matrix unchanged, while the content loss sees it?"""
    f = feature_map((1, 6, 6, 5))
    order = RNG.permutation(36)
    shuffled = f.reshape(1, 36, 5)[:, order].reshape(1, 6, 6, 5)
    np.testing.assert_allclose(gram(tf.constant(shuffled)), gram(tf.constant(f)), rtol=1e-12)
    assert float(layer_style_loss(tf.constant(shuffled), gram(tf.constant(f)))) < 1e-20
    assert float(content_loss(tf.constant(shuffled), tf.constant(f))) > 1.0  # the layout did change


def test_channel_permutation_gives_pi_g_pi_transposed():
    """Does renaming the channels by a permutation matrix Pi turn G into Pi G Pi^T (and not Pi^T G Pi, nor G)?"""
    f = feature_map((1, 4, 4, 3))
    channels = np.array([1, 2, 0])  # a 3-cycle: its inverse is a different permutation
    pi = np.eye(3)[channels]  # row i picks channel channels[i]
    g = gram(tf.constant(f))[0].numpy()
    g_renamed = gram(tf.constant(f[..., channels]))[0].numpy()
    np.testing.assert_allclose(g_renamed, pi @ g @ pi.T, rtol=1e-12)
    assert not np.allclose(g_renamed, pi.T @ g @ pi)
    assert not np.allclose(g_renamed, g)


# ---------------------------------------------------------------- style loss


def test_style_loss_worked_number_and_batch_sum():
    """Is E = 2/144 for the lecture's example, and is a batch of two copies worth twice one?"""
    f = tf.constant(np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]]).reshape(1, 1, 3, 2))
    a = tf.constant([[[4.0, 2.0], [2.0, 9.0]]], tf.float64)
    assert float(layer_style_loss(f, a)) == pytest.approx(2 / 144)
    assert float(layer_style_loss(tf.concat([f, f], 0), tf.concat([a, a], 0))) == pytest.approx(
        4 / 144
    )


@pytest.mark.parametrize("reps", [2, 3])
def test_normalisation_makes_the_style_loss_size_free(reps):
    """Do two textures tiled reps x reps keep the same E_l, while the raw sum grows reps^4 times (and a 1/(HW) variant reps^2)?"""
    f, s = feature_map((1, 6, 5, 8)), feature_map((1, 6, 5, 8))
    tile = lambda x: np.tile(x, (1, reps, reps, 1))  # (1, reps H, reps W, C)
    e_1 = float(layer_style_loss(tf.constant(f), gram(tf.constant(s))))
    e_k = float(layer_style_loss(tf.constant(tile(f)), gram(tf.constant(tile(s)))))
    assert e_k == pytest.approx(e_1, rel=1e-10)
    raw = lambda x, y: float(tf.reduce_sum((gram(tf.constant(x)) - gram(tf.constant(y))) ** 2))
    assert raw(tile(f), tile(s)) == pytest.approx(reps**4 * raw(f, s), rel=1e-10)
    wrong = lambda x, y: raw(x, y) / (4 * 8**2 * x.shape[1] * x.shape[2])  # (HW) instead of (HW)^2
    assert wrong(tile(f), tile(s)) == pytest.approx(reps**2 * wrong(f, s), rel=1e-10)


def test_style_loss_gradient_is_f_times_g_minus_a():
    """Is dE/dF = F (G - A) / (C^2 (HW)^2), as Gatys et al. give it (the 4 cancels), per position and channel?"""
    f = tf.constant(feature_map((1, 3, 4, 5)))
    a = gram(tf.constant(feature_map((1, 3, 4, 5))))
    with tf.GradientTape() as tape:
        tape.watch(f)
        loss = layer_style_loss(f, a)
    grad = tape.gradient(loss, f).numpy().reshape(12, 5)
    flat = f.numpy().reshape(12, 5)  # (positions M, channels N)
    diff = (gram(f) - a)[0].numpy()
    np.testing.assert_allclose(grad, flat @ diff / (5**2 * 12**2), rtol=1e-10)
    assert not np.allclose(grad, flat @ diff / (4 * 5**2 * 12**2))  # keeping the 4 is wrong


def test_content_loss_and_its_gradient():
    """Is the content loss 6.5 on the lecture's example, with gradient F - P (and not the mean squared error)?"""
    f = tf.constant([[[[1.0, 2.0], [3.0, 4.0]]]])
    p = tf.constant([[[[1.0, 0.0], [3.0, 1.0]]]])
    with tf.GradientTape() as tape:
        tape.watch(f)
        loss = content_loss(f, p)
    assert float(loss) == 6.5
    np.testing.assert_array_equal(tape.gradient(loss, f), f - p)
    assert float(keras.losses.MeanSquaredError()(p, f)) != float(loss)


# ---------------------------------------------------------------- total variation


def test_total_variation_matches_tf_image():
    """Do the lecture's absolute differences equal tf.image.total_variation per image, summed over the batch?"""
    x = RNG.random((3, 9, 11, 3)).astype("float32")
    per_image = tf.image.total_variation(tf.constant(x)).numpy()
    np.testing.assert_allclose(per_image, tv_numpy(x), rtol=1e-5)
    np.testing.assert_allclose(float(total_variation(tf.constant(x))), per_image.sum(), rtol=1e-5)
    small = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]], "float32").reshape(1, 2, 3, 1)
    assert float(total_variation(tf.constant(small))) == 3.0
    # wrong variants: squared differences, and differences that wrap around the border
    squared = (np.diff(x, axis=1) ** 2).sum() + (np.diff(x, axis=2) ** 2).sum()
    wrapped = sum(np.abs(np.roll(x, 1, axis=k) - x).sum() for k in (1, 2))
    assert not np.isclose(squared, per_image.sum()) and not np.isclose(wrapped, per_image.sum())


def test_gradients_are_finite_at_equality():
    """At F = P, G = A and on a flat image, are the three gradients finite (zero), where norm-based variants give NaN?"""
    f = tf.Variable(feature_map((1, 4, 4, 3)))
    target = tf.constant(f.numpy())
    flat = tf.Variable(np.full((1, 5, 5, 3), 0.5))
    with tf.GradientTape(persistent=True) as tape:
        losses = {
            "content": content_loss(f, target),
            "style": layer_style_loss(f, gram(target)),
            "tv": total_variation(flat),
            "style as a Frobenius norm": tf.norm(gram(f) - gram(target)),
            "isotropic TV": tf.reduce_sum(
                tf.sqrt(
                    (flat[:, 1:, :-1] - flat[:, :-1, :-1]) ** 2
                    + (flat[:, :-1, 1:] - flat[:, :-1, :-1]) ** 2
                )
            ),
        }
    grads = {
        name: tape.gradient(loss, flat if "TV" in name or name == "tv" else f)
        for name, loss in losses.items()
    }
    for name in ["content", "style", "tv"]:
        assert float(losses[name]) == 0.0 and np.all(grads[name].numpy() == 0.0), name
    for name in ["style as a Frobenius norm", "isotropic TV"]:
        assert not np.all(np.isfinite(grads[name].numpy())), name


# ---------------------------------------------------------------- Adam by hand


def hand_adam(w0, grads, lr, eps, beta_1=0.9, beta_2=0.999, bias_correction=True):
    """The lecture's update: m, v moving averages; step lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)."""
    w, m, v = w0.copy(), 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        scale = np.sqrt(1 - beta_2**t) / (1 - beta_1**t) if bias_correction else 1.0
        w = w - lr * scale * m / (np.sqrt(v) + eps)
    return w


def keras_adam(w0, grads, lr, eps):
    w = keras.Variable(w0)
    opt = keras.optimizers.Adam(learning_rate=lr, epsilon=eps)
    for g in grads:
        opt.apply_gradients([(tf.constant(g), w)])
    return w.numpy()


def test_hand_adam_equals_keras_adam_on_tiny_gradients():
    """Do ten hand Adam steps equal keras.optimizers.Adam(epsilon=1e-12) on gradients of 1e-8, unlike the variants?"""
    w0 = RNG.normal(size=(3, 4)).astype("float32")
    grads = [(1e-8 * RNG.normal(size=(3, 4))).astype("float32") for _ in range(10)]
    ours = hand_adam(w0, grads, lr=0.02, eps=1e-12)
    np.testing.assert_allclose(ours, keras_adam(w0, grads, lr=0.02, eps=1e-12), atol=1e-5)
    assert (
        np.abs(ours - w0).max() > 0.1
    )  # about lr per step: the scale of the gradients does not matter
    # the default epsilon swamps gradients of 1e-8: the image would hardly move
    assert np.abs(keras_adam(w0, grads, lr=0.02, eps=1e-7) - w0).max() < 0.05
    assert not np.allclose(
        hand_adam(w0, grads, lr=0.02, eps=1e-12, bias_correction=False), ours, atol=1e-3
    )


def test_vgg_preprocessing_of_the_lecture_matches_keras():
    """Is the lecture's 255 x[..., ::-1] - mean (BGR) on [0, 1] images Keras's vgg19.preprocess_input on 0-255 ones?"""
    x = RNG.random((2, 4, 5, 3)).astype("float32")
    mean_bgr = np.array([103.939, 116.779, 123.68], "float32")
    ours = 255.0 * x[..., ::-1] - mean_bgr
    np.testing.assert_allclose(
        ours, keras.applications.vgg19.preprocess_input(255.0 * x), rtol=1e-5, atol=1e-3
    )
    assert not np.allclose(
        255.0 * x - mean_bgr, keras.applications.vgg19.preprocess_input(255.0 * x), atol=1e-3
    )
