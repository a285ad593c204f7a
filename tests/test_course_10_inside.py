"""Lecture 10's formulas for looking inside a CNN, checked with tf.GradientTape on models with known answers.

Saliency, the softmax's gradient, gradient ascent on the input, Grad-CAM's weights, the normalised Deep Dream
step and the receptive-field window are each computed as the lecture does and compared with a hand computation;
a second case shows that a wrong variant (the probability instead of the score, descent instead of ascent, the
spatial sum instead of the mean, the raw gradient instead of the normalised one) gives different numbers.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


def linear_classifier(shape=(4, 4, 3), classes=5, seed=0):
    """Flatten -> Dense(name="logits") -> a separate softmax Activation: linear before its softmax."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape)
    logits = keras.layers.Dense(classes, name="logits")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(logits))


def input_gradient(model_or_part, x, class_index):
    """d output[:, class_index] / d x for every image of x (N, H, W, C), with tf.GradientTape."""
    xt = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = model_or_part(xt)[:, class_index]
    return tape.gradient(out, xt).numpy()


def logits_of(model):
    """The model up to its pre-softmax scores (the layer before the separate softmax Activation)."""
    return keras.Model(model.input, model.get_layer("logits").output)


def test_saliency_of_a_linear_model_is_max_abs_weight():
    """Is the saliency max_c |d s_y / d x| of a model linear before its softmax exactly max_c |W[:, y]|,
    whatever the image, and does a wrong variant (no absolute value) differ?"""
    model = linear_classifier()
    w = model.get_layer("logits").kernel.numpy()  # (48, 5)
    x = np.random.default_rng(1).random((3, 4, 4, 3)).astype("float32")
    for y in range(5):
        saliency = np.abs(input_gradient(logits_of(model), x, y)).max(axis=-1)  # (3, 4, 4)
        expected = np.abs(w[:, y]).reshape(4, 4, 3).max(axis=-1)
        for s in saliency:
            np.testing.assert_array_equal(s, expected)
        signed = input_gradient(logits_of(model), x, y).max(
            axis=-1
        )  # without |.|: the largest signed value
        assert not np.allclose(signed[0], expected)


def test_post_softmax_saliency_differs_from_pre_softmax():
    """Is d p_y / d x = p_y (W_y - sum_k p_k W_k), different from the score's gradient W_y, and far smaller
    when the network is confident?"""
    model = linear_classifier()
    w = model.get_layer("logits").kernel.numpy()
    x = np.random.default_rng(2).random((1, 4, 4, 3)).astype("float32")
    y = 1
    p = model(x).numpy()[0]
    grad_p = input_gradient(model, x, y).reshape(-1)
    grad_s = input_gradient(logits_of(model), x, y).reshape(-1)
    np.testing.assert_allclose(grad_p, p[y] * (w[:, y] - w @ p), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(grad_s, w[:, y], rtol=1e-6)
    pre, post = np.abs(grad_s).reshape(4, 4, 3).max(-1), np.abs(grad_p).reshape(4, 4, 3).max(-1)
    assert not np.allclose(post, pre, rtol=0.1)
    assert not np.allclose(post / post.max(), pre / pre.max(), atol=0.05)  # not just rescaled

    # a confident network: scale the weights so that p_y -> 1; the probability's gradient vanishes
    dense = model.get_layer("logits")
    dense.kernel.assign(50.0 * w)
    dense.bias.assign(np.zeros(5, "float32"))
    target = int(np.argmax(model(x).numpy()[0]))
    p_conf = float(model(x).numpy()[0, target])
    post = np.abs(input_gradient(model, x, target)).max()
    pre = np.abs(input_gradient(logits_of(model), x, target)).max()
    assert p_conf > 0.999 and post < 0.01 * pre


def test_gradient_ascent_raises_the_class_score():
    """Do a few steps x <- x + lr (d s_c/dx - 2 lambda x) on the shipped base raise the class score
    every step, while the same steps with the sign flipped (descent) lower it?"""
    from cnn_course.models import pretrained_base

    scores = logits_of(pretrained_base())
    c, lr, l2_reg = 3, 0.05, 0.05
    x0 = (0.5 + 0.01 * np.random.default_rng(0).standard_normal((1, 32, 32, 3))).astype("float32")

    def run(sign):
        x = tf.constant(x0)
        history = []
        for _ in range(5):
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = scores(x)[0, c]
                objective = score - l2_reg * tf.reduce_sum(x**2)
            g = tape.gradient(objective, x)
            history.append(float(score))
            x = x + sign * lr * g
        history.append(float(scores(x)[0, c]))
        return history

    up, down = run(+1), run(-1)
    assert all(np.diff(up) > 0), up
    assert up[-1] > up[0] + 1.0 and down[-1] < down[0], (up, down)

    # the penalty's gradient is 2 lambda x
    x = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        penalty = l2_reg * tf.reduce_sum(x**2)
    np.testing.assert_allclose(tape.gradient(penalty, x).numpy(), 2 * l2_reg * x0, rtol=1e-6)


def gap_classifier(seed=0):
    """Conv(ReLU, name="conv") -> global average pool -> Dense(name="logits") -> softmax Activation."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 2))
    a = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(a)
    logits = keras.layers.Dense(4, name="logits")(h)
    return keras.Model(inputs, keras.layers.Activation("softmax")(logits))


def grad_cam_weights(model, x, c, score_layer="logits"):
    """The lecture's alpha: the spatial mean of d s_c / d A over the conv layer's maps, (N, K), and A."""
    part = keras.Model(
        model.input, [model.get_layer("conv").output, model.get_layer(score_layer).output]
    )
    with tf.GradientTape() as tape:
        a, s = part(tf.constant(x))
        score = s[:, c]
    grads = tape.gradient(score, a).numpy()  # (N, H, W, K)
    return grads.mean(axis=(1, 2)), grads, a.numpy()


def test_grad_cam_weights_are_the_spatial_mean_of_the_gradients():
    """For conv -> global average pool -> dense, is alpha_k = W[k, c] / (H W) by hand, is the Grad-CAM map
    ReLU(A W[:, c]) / (H W), and do the spatial sum or the probability's gradient give other numbers?"""
    model = gap_classifier()
    w = model.get_layer("logits").kernel.numpy()  # (3, 4)
    x = np.random.default_rng(3).standard_normal((2, 6, 6, 2)).astype("float32")
    c = 2
    alpha, grads, a = grad_cam_weights(model, x, c)
    np.testing.assert_allclose(alpha, np.tile(w[:, c] / 36, (2, 1)), rtol=1e-5)
    cam = np.maximum(np.einsum("nhwk,nk->nhw", a, alpha), 0)
    np.testing.assert_allclose(cam, np.maximum(a @ w[:, c], 0) / 36, rtol=1e-5, atol=1e-7)
    # wrong variants: the spatial sum is 36 times larger; the probability's gradient is another vector
    assert not np.allclose(grads.sum(axis=(1, 2)), alpha, rtol=0.1)
    prob_model = keras.Model(model.input, [model.get_layer("conv").output, model.output])
    with tf.GradientTape() as tape:
        a_t, p = prob_model(tf.constant(x))
        prob = p[:, c]
    alpha_p = tape.gradient(prob, a_t).numpy().mean(axis=(1, 2))
    assert not np.allclose(alpha_p / np.abs(alpha_p).max(), alpha / np.abs(alpha).max(), atol=0.05)


def test_grad_cam_weight_is_the_derivative_of_a_uniform_channel_shift():
    """On the shipped base, is H'W' alpha_k the derivative of s_c when all of channel k of the last
    convolution grows by the same amount (the lecture's central difference), and not alpha_k alone?"""
    from cnn_course.data import load_source_task
    from cnn_course.models import pretrained_base

    model = pretrained_base()
    x, _ = load_source_task(2, seed=3)
    part = keras.Model(
        model.input, [model.get_layer("block3_conv2").output, model.get_layer("logits").output]
    )
    c = int(np.argmax(model(x).numpy()[0]))
    with tf.GradientTape() as tape:
        a, s = part(tf.constant(x[:1]))
        score = s[:, c]
    alpha = tape.gradient(score, a).numpy().mean(axis=(1, 2))[0]  # (64,)
    head = [
        model.get_layer(n) for n in ("block3_bn2", "block3_pool", "avg_pool", "dropout", "logits")
    ]

    def scores_from(maps):
        for layer in head:
            maps = layer(maps)
        return np.asarray(maps)

    np.testing.assert_allclose(scores_from(a), s.numpy(), atol=1e-4)
    k, eps = int(np.argmax(np.abs(alpha))), 1e-2
    shift = np.zeros(64, "float32")
    shift[k] = eps
    derivative = (scores_from(a + shift) - scores_from(a - shift))[0, c] / (2 * eps)
    np.testing.assert_allclose(derivative, 64 * alpha[k], rtol=2e-2)
    assert not np.isclose(derivative, alpha[k], rtol=0.5)


def test_deep_dream_step_moves_pixels_by_step_on_average():
    """Does x + step * g / (mean|g| + 1e-8), g = d mean(A_layer) / dx, change the pixels by `step` on
    average and raise the layer's mean activation, where the raw gradient step does not move by `step`?"""
    from cnn_course.data import load_texture
    from cnn_course.models import pretrained_base

    model = pretrained_base(input_shape=(None, None, 3))
    part = keras.Model(model.input, model.get_layer("block2_conv2").output)
    x = tf.constant(load_texture("chelsea", 48)[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        activation = tf.reduce_mean(part(x))
    g = tape.gradient(activation, x)
    step = 0.005
    x_new = x + step * g / (tf.reduce_mean(tf.abs(g)) + 1e-8)
    np.testing.assert_allclose(float(tf.reduce_mean(tf.abs(x_new - x))), step, rtol=1e-4)
    assert float(tf.reduce_mean(part(x_new))) > float(activation)
    raw = x + step * g  # the wrong variant: no normalisation
    assert not np.isclose(float(tf.reduce_mean(tf.abs(raw - x))), step, rtol=0.1)


def receptive_field(model, layer_name):
    """The lecture's recursion: (r, jump, start) of a layer's units in input pixels."""
    r, jump, start = 1, 1, 0.0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D)):
            f = (
                layer.kernel_size[0]
                if isinstance(layer, keras.layers.Conv2D)
                else layer.pool_size[0]
            )
            pad = (f - 1) // 2 if layer.padding == "same" else 0
            start += ((f - 1) / 2 - pad) * jump
            r += (f - 1) * jump
            jump *= layer.strides[0]
        if layer.name == layer_name:
            return r, jump, start


@pytest.mark.parametrize(
    "layer_name,field", [("block1_conv2", 5), ("block2_conv2", 14), ("block3_conv1", 24)]
)
def test_receptive_field_window_holds_the_whole_gradient(layer_name, field):
    """Is the gradient of one unit of the shipped base zero outside the window the recursion gives (size
    5, 14, 24), and does it fill that window (a window one pixel smaller would miss some of it)?"""
    from cnn_course.models import pretrained_base

    model = pretrained_base()
    r, jump, start = receptive_field(model, layer_name)
    assert r == field
    part = keras.Model(model.input, model.get_layer(layer_name).output)
    x = np.random.default_rng(4).random((1, 32, 32, 3)).astype("float32")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        a = part(xt)
        i = a.shape[1] // 2
        unit = tf.reduce_sum(a[0, i, i, :])  # all channels at one position: some are active
    rows, cols = np.nonzero(np.abs(tape.gradient(unit, xt).numpy()[0]).sum(axis=-1))
    top = int(round(start + i * jump - (r - 1) / 2))
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (top, top + r - 1, top, top + r - 1)
