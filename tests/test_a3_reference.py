"""The a3 grader's reference is only as good as its agreement with TensorFlow and Keras.

The only place TensorFlow meets a3: every backward pass is compared with ``tf.GradientTape``,
batch norm with ``keras.layers.BatchNormalization`` step by step, the optimisers with
``keras.optimizers`` applied to a variable with the same gradients, over random configurations.
"""

import numpy as np
import pytest

from autograder.reference import backprop as ref

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


def _tf_padding(padding):
    if isinstance(padding, str):
        return padding.upper()
    return [[0, 0], [padding, padding], [padding, padding], [0, 0]]


def _conv_configs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        fh, fw = (int(v) for v in rng.integers(1, 5, size=2))
        stride = int(rng.integers(1, 4))
        padding = [0, 1, 2, "valid", "same"][int(rng.integers(0, 5))]
        h, w = (int(v) for v in rng.integers(max(fh, fw) + 1, 11, size=2))
        c_in, c_out, batch = (int(v) for v in rng.integers(1, 4, size=3))
        yield (batch, h, w, c_in, c_out, fh, fw, stride, padding)


@pytest.mark.parametrize("cfg", list(_conv_configs(30)), ids=str)
def test_conv2d_backward_matches_gradient_tape(cfg):
    """Do dx, dw and db equal tf.GradientTape's gradients of sum(dout * conv2d(x, w) + b)?"""
    batch, h, w, c_in, c_out, fh, fw, stride, padding = cfg
    rng = np.random.default_rng(1)
    x = rng.normal(size=(batch, h, w, c_in))
    k = rng.normal(size=(fh, fw, c_in, c_out))
    b = rng.normal(size=c_out)
    out = ref.conv2d(x, k, b, stride=stride, padding=padding)
    dout = rng.normal(size=out.shape)
    xt, kt, bt = (tf.Variable(a) for a in (x, k, b))
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(xt, kt, strides=stride, padding=_tf_padding(padding)) + bt
        loss = tf.reduce_sum(y * dout)
    np.testing.assert_allclose(y.numpy(), out, atol=1e-10)
    want = tape.gradient(loss, [xt, kt, bt])
    got = ref.conv2d_backward(dout, x, k, stride=stride, padding=padding)
    for g, t in zip(got, want, strict=True):
        np.testing.assert_allclose(g, t.numpy(), rtol=1e-9, atol=1e-9)


def _pool_configs(n: int, seed: int = 2):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        size = int(rng.integers(2, 4))
        stride = [None, 1, 2, 3][int(rng.integers(0, 4))]
        h, w = (int(v) for v in rng.integers(size, 10, size=2))
        mode = ["max", "avg"][int(rng.integers(0, 2))]
        yield (int(rng.integers(1, 3)), h, w, int(rng.integers(1, 4)), size, stride, mode)


@pytest.mark.parametrize("cfg", list(_pool_configs(24)), ids=str)
def test_pool2d_backward_matches_gradient_tape(cfg):
    """Does dx equal tf.GradientTape's gradient through max_pool2d / avg_pool2d (valid windows,
    overlapping ones accumulating), on inputs without ties?"""
    batch, h, w, c, size, stride, mode = cfg
    rng = np.random.default_rng(3)
    x = rng.permutation(batch * h * w * c).reshape(batch, h, w, c) / 7.0  # no ties
    s = size if stride is None else stride
    out = ref.pool2d(x, size, stride, mode)
    dout = rng.normal(size=out.shape)
    xt = tf.Variable(x)
    pool = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    with tf.GradientTape() as tape:
        y = pool(xt, ksize=size, strides=s, padding="VALID")
        loss = tf.reduce_sum(y * dout)
    np.testing.assert_allclose(y.numpy(), out, atol=1e-12)
    got = ref.pool2d_backward(dout, x, size, stride, mode)
    np.testing.assert_allclose(got, tape.gradient(loss, xt).numpy(), atol=1e-12)


@pytest.mark.parametrize(
    "shape,momentum,epsilon",
    [
        ((4, 3, 5, 2), 0.99, 1e-3),
        ((6, 3), 0.9, 1e-5),
        ((2, 2, 2, 4), 0.5, 1e-3),
        ((1, 1, 1, 3), 0.99, 1e-3),
    ],
)
def test_batchnorm_forward_matches_keras_step_by_step(shape, momentum, epsilon):
    """Do y and the moving statistics equal keras.layers.BatchNormalization over several
    training steps and then inference (batch size 1 included: no NaN)?"""
    rng = np.random.default_rng(4)
    layer = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, dtype="float64")
    layer.build(shape)
    c = shape[-1]
    gamma, beta = rng.normal(size=c), rng.normal(size=c)
    mm, mv = rng.normal(size=c), rng.random(size=c) + 0.5
    layer.set_weights([gamma, beta, mm, mv])
    for step in range(4):
        x = rng.normal(loc=step, size=shape)
        training = step < 3
        want = keras.ops.convert_to_numpy(layer(x, training=training))
        y, mm, mv = ref.batchnorm_forward(x, gamma, beta, mm, mv, training, momentum, epsilon)
        assert np.all(np.isfinite(y))
        np.testing.assert_allclose(y, want, rtol=1e-9, atol=1e-9)
        _, _, keras_mm, keras_mv = layer.get_weights()
        np.testing.assert_allclose(mm, keras_mm, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(mv, keras_mv, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 5, 2), (2, 3, 3, 3), (1, 2, 2, 2)])
def test_batchnorm_backward_matches_gradient_tape(shape):
    """Do dx, dgamma and dbeta equal tf.GradientTape's gradients through the training-mode
    Keras layer (mean terms included)?"""
    rng = np.random.default_rng(5)
    c = shape[-1]
    x, gamma, beta = rng.normal(size=shape), rng.normal(size=c), rng.normal(size=c)
    dy = rng.normal(size=shape)
    layer = keras.layers.BatchNormalization(dtype="float64")
    layer.build(shape)
    layer.set_weights([gamma, beta, np.zeros(c), np.ones(c)])
    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(xt, training=True) * dy)
    want = tape.gradient(loss, [xt, layer.gamma.value, layer.beta.value])
    got = ref.batchnorm_backward(dy, x, gamma)
    for g, t in zip(got, want, strict=True):
        np.testing.assert_allclose(g, t.numpy(), rtol=1e-7, atol=1e-9)


def test_softmax_cross_entropy_matches_tensorflow():
    """Do the loss and its gradient equal TensorFlow's sparse cross-entropy, logits of 1e3 included?"""
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(7, 5)) * 3
    logits[0] = [1e3, -1e3, 0, 5, 1e3 - 1]
    y = rng.integers(0, 5, size=7)
    zt = tf.Variable(logits)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, zt))
    got_loss, got_grad = ref.softmax_cross_entropy(logits, y)
    np.testing.assert_allclose(got_loss, loss.numpy(), rtol=1e-12)
    np.testing.assert_allclose(got_grad, tape.gradient(loss, zt).numpy(), atol=1e-12)


def _keras_steps(optimizer, w0, grads):
    var = keras.Variable(w0, dtype="float64")
    out = []
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g), var)])
        out.append(keras.ops.convert_to_numpy(var))
    return out


OPTIMISER_CASES = [
    ("sgd", dict(learning_rate=0.1), 1.0),
    ("sgd", dict(learning_rate=0.05, momentum=0.9), 1.0),
    ("sgd", dict(learning_rate=0.05, momentum=0.8, nesterov=True), 1.0),
    ("rmsprop", dict(learning_rate=0.01), 1.0),
    ("rmsprop", dict(learning_rate=0.001, rho=0.8, epsilon=1e-6), 1e-4),
    ("adam", dict(learning_rate=0.01), 1.0),
    ("adam", dict(learning_rate=0.001, beta_1=0.8, beta_2=0.99, epsilon=1e-6), 1e-4),
    ("adam", dict(learning_rate=0.001), 1e-6),
]


@pytest.mark.parametrize("name,kw,scale", OPTIMISER_CASES, ids=str)
def test_optimiser_steps_match_keras(name, kw, scale):
    """Do five consecutive steps of each rule equal keras.optimizers applied to a variable with the
    same gradients, small gradients (where ε placement matters) included?"""
    rng = np.random.default_rng(7)
    w0 = rng.normal(size=(3, 4))
    grads = [rng.normal(size=(3, 4)) * scale for _ in range(5)]
    cls = {
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "adam": keras.optimizers.Adam,
    }
    want = _keras_steps(cls[name](**kw), w0, grads)
    lr = kw.pop("learning_rate")
    w, state = w0, [np.zeros_like(w0), np.zeros_like(w0)]
    for t, (g, target) in enumerate(zip(grads, want, strict=True), start=1):
        if name == "sgd":
            w, state[0] = ref.sgd_momentum_step(w, g, state[0], lr, **kw)
        elif name == "rmsprop":
            w, state[0] = ref.rmsprop_step(w, g, state[0], lr, **kw)
        else:
            w, state[0], state[1] = ref.adam_step(w, g, state[0], state[1], t, lr, **kw)
        # Keras keeps the learning rate as a float32 variable (relative 1e-8 of the steps), and
        # Adam's beta_2 ** t goes through float32 while its moment updates use the Python float:
        # relative 1e-5 of Adam's steps (the grader's tolerance is 1e-4)
        scale = np.max(np.abs(target - w0))
        rtol = 2e-5 if name == "adam" else 1e-6
        np.testing.assert_allclose(w - w0, target - w0, rtol=rtol, atol=rtol * scale)


def test_small_gradients_make_the_eps_placement_visible():
    """With gradients of 1e-4 from a fresh state, is CS231n's RMSprop step (ε outside the root)
    about ten times Keras's?"""
    w, g = np.zeros(3), np.full(3, 1e-4)
    keras_step = ref.rmsprop_step(w, g, np.zeros(3), 0.01)[0]
    outside = ref.rmsprop_step(w, g, np.zeros(3), 0.01, eps_outside=True)[0]
    assert 8 < float(outside[0] / keras_step[0]) < 12


def test_numerical_gradient_of_known_functions():
    """Does the reference numerical gradient find 2x for sum(x²) and cos for sum(sin), leaving x alone?"""
    x = np.random.default_rng(8).normal(size=(3, 2))
    before = x.copy()
    np.testing.assert_allclose(ref.numerical_gradient(lambda a: np.sum(a**2), x), 2 * x, atol=1e-8)
    np.testing.assert_allclose(
        ref.numerical_gradient(lambda a: np.sum(np.sin(a)), x), np.cos(x), atol=1e-8
    )
    np.testing.assert_array_equal(x, before)
