"""Lecture 06's formulas, asserted against TensorFlow and Keras (kept fast: no notebook, no training run).

The reference backward passes are written here, in NumPy, in the lecture's conventions (NHWC images,
kernels (F_h, F_w, C_in, C_out), cross-correlation, int padding or Keras' "valid"/"same"), and compared
with ``tf.GradientTape`` on ``tf.nn.conv2d``, ``keras.layers.Conv2D``, ``MaxPooling2D`` and
``AveragePooling2D``. Each formula also has a wrong variant that must fail the same comparison.
"""

import json
import pathlib
import re

import numpy as np
import pytest
from scipy import signal

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

REPO = pathlib.Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(6)

# ---------------------------------------------------------------- the reference, in NumPy


def pad_amounts(n: int, f: int, padding, stride: int) -> tuple[int, int]:
    """(before, after) padding along one axis: an int p, "valid", or TensorFlow's rule for "same"."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = max((-(-n // stride) - 1) * stride + f - n, 0)
        return total // 2, total - total // 2
    return padding, padding


def pad_input(x, f_h, f_w, padding, stride, value=0.0):
    """The padded input (N, H + pads, W + pads, C) and the (top, left) offsets of the real pixels."""
    top, bottom = pad_amounts(x.shape[1], f_h, padding, stride)
    left, right = pad_amounts(x.shape[2], f_w, padding, stride)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)
    return xp, (top, left)


def conv2d_forward(x, w, b, stride=1, padding=0):
    """x (N, H, W, C_in), w (F_h, F_w, C_in, C_out), b (C_out,) -> (N, H_out, W_out, C_out)."""
    f_h, f_w, _, c_out = w.shape
    xp, _ = pad_input(x, f_h, f_w, padding, stride)
    h_out, w_out = (xp.shape[1] - f_h) // stride + 1, (xp.shape[2] - f_w) // stride + 1
    y = np.zeros((x.shape[0], h_out, w_out, c_out))
    for i in range(h_out):
        for j in range(w_out):
            patch = xp[:, i * stride : i * stride + f_h, j * stride : j * stride + f_w, :]
            y[:, i, j, :] = np.tensordot(patch, w, axes=3) + b
    return y


def conv2d_backward(dout, x, w, stride=1, padding=0):
    """The lecture's loops: dx, dw, db from dout = dL/dy."""
    f_h, f_w = w.shape[:2]
    xp, (top, left) = pad_input(x, f_h, f_w, padding, stride)
    dxp, dw = np.zeros(xp.shape), np.zeros(w.shape)
    db = dout.sum(axis=(0, 1, 2))
    for i in range(dout.shape[1]):
        for j in range(dout.shape[2]):
            rows = slice(i * stride, i * stride + f_h)
            cols = slice(j * stride, j * stride + f_w)
            g = dout[:, i, j, :]
            dw += np.tensordot(xp[:, rows, cols, :], g, axes=(0, 0))
            dxp[:, rows, cols, :] += np.tensordot(g, w, axes=(1, 3))
    return dxp[:, top : top + x.shape[1], left : left + x.shape[2], :], dw, db


def dilate(dout, stride):
    """Insert stride - 1 zeros between neighbouring entries along H and W."""
    n, h, w, c = dout.shape
    out = np.zeros((n, (h - 1) * stride + 1, (w - 1) * stride + 1, c))
    out[:, ::stride, ::stride, :] = dout
    return out


def dw_by_correlation(dout, x, w_shape, stride=1, padding=0):
    """dw[:, :, c, k] = sum over images of correlate(padded x[..., c], dilated dout[..., k])."""
    f_h, f_w, c_in, c_out = w_shape
    xp, _ = pad_input(x, f_h, f_w, padding, stride)
    d = dilate(dout, stride)
    dw = np.zeros(w_shape)
    for n in range(x.shape[0]):
        for c in range(c_in):
            for k in range(c_out):
                full = signal.correlate2d(xp[n, :, :, c], d[n, :, :, k], mode="valid")
                dw[:, :, c, k] += full[:f_h, :f_w]  # rows never covered make it larger: crop
    return dw


def dx_by_full_convolution(dout, w, x_shape, stride=1, padding=0, flip=True):
    """dx[..., c] = sum_k correlate(dilated dout padded by F - 1, w[:, :, c, k] rotated by 180 degrees)."""
    f_h, f_w, c_in, c_out = w.shape
    xp, (top, left) = pad_input(np.zeros(x_shape), f_h, f_w, padding, stride)
    d = dilate(dout, stride)
    kernel = w[::-1, ::-1] if flip else w
    dxp = np.zeros(xp.shape)
    for n in range(x_shape[0]):
        for c in range(c_in):
            for k in range(c_out):
                padded = np.pad(d[n, :, :, k], ((f_h - 1, f_h - 1), (f_w - 1, f_w - 1)))
                part = signal.correlate2d(padded, kernel[:, :, c, k], mode="valid")
                dxp[n, : part.shape[0], : part.shape[1], c] += part  # uncovered rows stay 0
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2], :]


def pool2d_backward(dout, x, size, stride, padding="valid", mode="max", ties="first"):
    """dx of max or average pooling; "same" pads max pooling with -inf and averages over real inputs only.

    Max: the whole gradient to the first maximum of the window (ties="first") or split evenly
    (ties="split"). Average: dout / (number of real inputs in the window)."""
    xp, (top, left) = pad_input(x, size, size, padding, stride, value=-np.inf)
    real = np.isfinite(xp)
    n, h_out, w_out, c = dout.shape
    dxp = np.zeros(xp.shape)
    for i in range(h_out):
        for j in range(w_out):
            rows = slice(i * stride, i * stride + size)
            cols = slice(j * stride, j * stride + size)
            g = dout[:, i : i + 1, j : j + 1, :]
            window = xp[:, rows, cols, :]
            if mode == "max" and ties == "first":
                flat = window.reshape(n, -1, c)
                routed = np.zeros(flat.shape)
                np.put_along_axis(routed, flat.argmax(axis=1)[:, None, :], g.reshape(n, 1, c), 1)
                dxp[:, rows, cols, :] += routed.reshape(window.shape)
            elif mode == "max":
                winners = (window == window.max(axis=(1, 2), keepdims=True)).astype(float)
                dxp[:, rows, cols, :] += winners / winners.sum(axis=(1, 2), keepdims=True) * g
            else:
                inside = real[:, rows, cols, :]
                dxp[:, rows, cols, :] += inside * g / inside.sum(axis=(1, 2), keepdims=True)
    return dxp[:, top : top + x.shape[1], left : left + x.shape[2], :]


def numerical_gradient(f, a, eps=1e-6):
    """Central differences of the scalar f(a)."""
    a = a.astype(np.float64)
    grad = np.zeros(a.shape)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + eps
        plus = f(a)
        a[idx] = old - eps
        minus = f(a)
        a[idx] = old
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


# ---------------------------------------------------------------- TensorFlow's side


def tf_padding(padding):
    if padding in ("valid", "same"):
        return padding.upper()
    return [[0, 0], [padding, padding], [padding, padding], [0, 0]]


def tape_conv2d(x, w, b, r, stride, padding):
    """dL/dx, dL/dw, dL/db of L = sum(tf.nn.conv2d(x, w) + b) * r)."""
    x_t, w_t, b_t = tf.constant(x), tf.constant(w), tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch([x_t, w_t, b_t])
        y = tf.nn.conv2d(x_t, w_t, strides=stride, padding=tf_padding(padding)) + b_t
        loss = tf.reduce_sum(y * r)
    return [g.numpy() for g in tape.gradient(loss, [x_t, w_t, b_t])]


def tape_layer(layer, x, r):
    """dL/dx of L = sum(layer(x) * r)."""
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        loss = tf.reduce_sum(layer(x_t) * r)
    return tape.gradient(loss, x_t).numpy()


CONV_CASES = [  # (x shape, kernel shape, stride, padding)
    ((2, 6, 6, 2), (3, 3, 2, 3), 1, 0),
    ((2, 7, 7, 2), (3, 3, 2, 3), 2, 1),
    ((1, 8, 8, 3), (2, 3, 3, 2), 3, 0),  # no patch covers columns 6-7 and rows 2 and 5
    ((2, 7, 9, 2), (3, 3, 2, 2), 2, "same"),  # TensorFlow pads asymmetrically here
    ((1, 8, 6, 2), (4, 2, 2, 3), 2, "same"),
    ((2, 9, 8, 1), (3, 3, 1, 2), 2, "valid"),
    ((1, 6, 7, 2), (3, 3, 2, 2), 1, 2),
]
IDS = [f"{c[1][0]}x{c[1][1]}-s{c[2]}-p{c[3]}" for c in CONV_CASES]


def _conv_case(x_shape, w_shape, stride, padding):
    x, w, b = RNG.normal(size=x_shape), RNG.normal(size=w_shape), RNG.normal(size=w_shape[3])
    r = RNG.normal(size=conv2d_forward(x, w, b, stride, padding).shape)
    return x, w, b, r


@pytest.mark.parametrize("x_shape,w_shape,stride,padding", CONV_CASES, ids=IDS)
def test_conv_backward_matches_gradient_tape(x_shape, w_shape, stride, padding):
    """Do the loops' dx, dw, db equal tf.GradientTape on tf.nn.conv2d, with strides 1-3 and int/valid/same padding?"""
    x, w, b, r = _conv_case(x_shape, w_shape, stride, padding)
    y_tf = tf.nn.conv2d(x, w, strides=stride, padding=tf_padding(padding)).numpy() + b
    np.testing.assert_allclose(conv2d_forward(x, w, b, stride, padding), y_tf, atol=1e-12)
    for ours, theirs in zip(
        conv2d_backward(r, x, w, stride, padding),
        tape_conv2d(x, w, b, r, stride, padding),
        strict=True,
    ):
        np.testing.assert_allclose(ours, theirs, atol=1e-11)


@pytest.mark.parametrize("stride,padding", [(1, "same"), (2, "same"), (2, "valid"), (3, "valid")])
def test_conv_backward_matches_keras_conv2d(stride, padding):
    """Do the gradients equal those of a keras.layers.Conv2D layer (its input, kernel and bias)?"""
    layer = keras.layers.Conv2D(3, (3, 2), strides=stride, padding=padding, dtype="float64")
    x = RNG.normal(size=(2, 8, 7, 2))
    layer.build(x.shape)
    r = RNG.normal(size=layer.compute_output_shape(x.shape))
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        loss = tf.reduce_sum(layer(x_t) * r)
    keras_grads = tape.gradient(loss, [x_t, layer.kernel, layer.bias])
    ours = conv2d_backward(r, x, layer.kernel.numpy(), stride, padding)
    for a, b in zip(ours, keras_grads, strict=True):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-11)


def test_conv_backward_matches_numerical_gradient():
    """Do dx, dw and db agree with central differences (stride 2, padding 1, a 2x3 kernel)?"""
    x, w, b = RNG.normal(size=(1, 6, 7, 2)), RNG.normal(size=(2, 3, 2, 2)), RNG.normal(size=2)
    r = RNG.normal(size=conv2d_forward(x, w, b, 2, 1).shape)
    dx, dw, db = conv2d_backward(r, x, w, 2, 1)
    np.testing.assert_allclose(
        dx, numerical_gradient(lambda a: (conv2d_forward(a, w, b, 2, 1) * r).sum(), x), atol=1e-6
    )
    np.testing.assert_allclose(
        dw, numerical_gradient(lambda a: (conv2d_forward(x, a, b, 2, 1) * r).sum(), w), atol=1e-6
    )
    np.testing.assert_allclose(
        db, numerical_gradient(lambda a: (conv2d_forward(x, w, a, 2, 1) * r).sum(), b), atol=1e-6
    )


@pytest.mark.parametrize("x_shape,w_shape,stride,padding", CONV_CASES, ids=IDS)
def test_dw_is_a_correlation_and_dx_a_full_convolution_with_the_flipped_kernel(
    x_shape, w_shape, stride, padding
):
    """Is dw the correlation of x with the dilated dout, and dx the full convolution of the dilated dout
    with the rotated kernel, as TensorFlow computes them? And does forgetting the flip give a wrong dx?"""
    x, w, b, r = _conv_case(x_shape, w_shape, stride, padding)
    dx_tf, dw_tf, _ = tape_conv2d(x, w, b, r, stride, padding)
    np.testing.assert_allclose(dw_by_correlation(r, x, w.shape, stride, padding), dw_tf, atol=1e-11)
    np.testing.assert_allclose(
        dx_by_full_convolution(r, w, x.shape, stride, padding), dx_tf, atol=1e-11
    )
    unflipped = dx_by_full_convolution(r, w, x.shape, stride, padding, flip=False)
    assert np.abs(unflipped - dx_tf).max() > 0.1


def test_dx_is_a_transposed_convolution():
    """Does tf.nn.conv2d_transpose of dout with the kernel give dx (the lecture's stride-2 example too)?"""
    x_img = np.array(
        [[1, 2, 0, 1, 3], [0, 1, 2, 3, 1], [2, 1, 0, 1, 0], [1, 0, 1, 2, 2], [3, 1, 0, 0, 1]], float
    )
    w_img = np.array([[1, 2, 0], [0, 1, -1], [3, 0, 1]], float)[:, :, None, None]
    dout = np.array([[1, -1], [2, 1]], float)[None, :, :, None]
    dx, dw, _ = conv2d_backward(dout, x_img[None, :, :, None], w_img, stride=2)
    transposed = tf.nn.conv2d_transpose(dout, w_img, (1, 5, 5, 1), strides=2, padding="VALID")
    np.testing.assert_allclose(transposed.numpy(), dx, atol=1e-12)
    assert dw[:, :, 0, 0].tolist() == [[5, 4, -3], [1, 0, 5], [8, 2, 1]]  # printed in the lecture
    assert dx[0, 0, :, 0].tolist() == [1, 2, -1, -2, 0]
    for stride in (1, 2, 3):
        x, w = RNG.normal(size=(2, 8, 8, 3)), RNG.normal(size=(3, 3, 3, 4))
        r = RNG.normal(size=conv2d_forward(x, w, np.zeros(4), stride).shape)
        transposed = tf.nn.conv2d_transpose(r, w, x.shape, strides=stride, padding="VALID")
        np.testing.assert_allclose(
            transposed.numpy(), conv2d_backward(r, x, w, stride)[0], atol=1e-11
        )


def test_the_stride_one_pictures():
    """Are the lecture's stride-1 pictures right: dw = correlate(x, dout), dx = convolve(dout, w, full)?"""
    x_img = np.array(
        [[1, 2, 0, 1, 3], [0, 1, 2, 3, 1], [2, 1, 0, 1, 0], [1, 0, 1, 2, 2], [3, 1, 0, 0, 1]], float
    )
    w_img = np.array([[1, 2, 0], [0, 1, -1], [3, 0, 1]], float)
    dout = np.array([[1, 0, -1], [2, 1, 0], [0, -1, 1]], float)
    x_t, w_t = tf.constant(x_img[None, :, :, None]), tf.constant(w_img[:, :, None, None])
    with tf.GradientTape() as tape:
        tape.watch([x_t, w_t])
        loss = tf.reduce_sum(tf.nn.conv2d(x_t, w_t, 1, "VALID") * dout[None, :, :, None])
    dx_tf, dw_tf = (g.numpy() for g in tape.gradient(loss, [x_t, w_t]))
    np.testing.assert_allclose(signal.correlate2d(x_img, dout, mode="valid"), dw_tf[:, :, 0, 0])
    np.testing.assert_allclose(signal.convolve2d(dout, w_img, mode="full"), dx_tf[0, :, :, 0])
    assert not np.allclose(signal.correlate2d(dout, w_img, mode="full"), dx_tf[0, :, :, 0])


# ---------------------------------------------------------------- pooling

POOL_CASES = [(2, 2, "valid"), (3, 2, "valid"), (2, 1, "valid"), (2, 2, "same"), (3, 2, "same")]


@pytest.mark.parametrize("size,stride,padding", POOL_CASES)
def test_max_pool_backward_matches_maxpooling2d(size, stride, padding):
    """Does routing the gradient to each window's maximum equal MaxPooling2D's gradient, and spreading it not?"""
    x = RNG.normal(size=(2, 7, 6, 3))  # real-valued: no ties
    layer = keras.layers.MaxPooling2D(size, strides=stride, padding=padding, dtype="float64")
    r = RNG.normal(size=layer.compute_output_shape(x.shape))
    theirs = tape_layer(layer, x, r)
    np.testing.assert_allclose(
        pool2d_backward(r, x, size, stride, padding, "max"), theirs, atol=1e-12
    )
    spread = pool2d_backward(r, x, size, stride, padding, "average")
    assert np.abs(spread - theirs).max() > 0.1


@pytest.mark.parametrize("size,stride,padding", POOL_CASES)
def test_average_pool_backward_matches_averagepooling2d(size, stride, padding):
    """Does dout / (real inputs in the window) equal AveragePooling2D's gradient, padded borders included?"""
    x = RNG.normal(size=(2, 7, 6, 3))
    layer = keras.layers.AveragePooling2D(size, strides=stride, padding=padding, dtype="float64")
    r = RNG.normal(size=layer.compute_output_shape(x.shape))
    theirs = tape_layer(layer, x, r)
    np.testing.assert_allclose(
        pool2d_backward(r, x, size, stride, padding, "average"), theirs, atol=1e-12
    )
    routed = pool2d_backward(r, x, size, stride, padding, "max")
    assert np.abs(routed - theirs).max() > 0.1


def test_same_average_pooling_divides_by_the_real_inputs():
    """With padding="same", does a border window divide by its real inputs (not by F*F)?"""
    x = np.ones((1, 5, 5, 1))
    layer = keras.layers.AveragePooling2D(2, padding="same", dtype="float64")
    np.testing.assert_allclose(layer(x).numpy(), np.ones((1, 3, 3, 1)))  # not 0.5 at the edge
    r = np.ones((1, 3, 3, 1))
    dx = tape_layer(layer, x, r)
    assert dx[0, 4, 4, 0] == 1.0 and dx[0, 0, 0, 0] == 0.25
    np.testing.assert_allclose(pool2d_backward(r, x, 2, 2, "same", "average"), dx)


@pytest.mark.parametrize("mode", ["max", "average"])
def test_pool_backward_matches_numerical_gradient(mode):
    """Do both pooling gradients agree with central differences on inputs without ties?"""
    x = RNG.normal(size=(1, 7, 7, 2))
    r = RNG.normal(size=(1, 3, 3, 2))
    forward = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
    layer = forward(3, strides=2, dtype="float64")
    numeric = numerical_gradient(lambda a: float(np.sum(layer(a).numpy() * r)), x)
    np.testing.assert_allclose(pool2d_backward(r, x, 3, 2, "valid", mode), numeric, atol=1e-6)


def test_max_pool_ties_go_to_the_first_maximum_as_in_maxpooling2d():
    """With ties, does MaxPooling2D (on the CPU) give everything to the first maximum, and tf.reduce_max split it?"""
    x = np.array([[1, 5, 5, 2], [5, 3, 0, 1], [2, 2, 7, 7], [2, 2, 7, 7]], float).reshape(
        1, 4, 4, 1
    )
    ones = np.ones((1, 2, 2, 1))
    layer = tape_layer(keras.layers.MaxPooling2D(2, dtype="float64"), x, ones)
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        loss = tf.reduce_sum(tf.reduce_max(tf.reshape(x_t, (1, 2, 2, 2, 2, 1)), axis=(2, 4)))
    reduce_max = tape.gradient(loss, x_t).numpy()
    first = pool2d_backward(ones, x, 2, 2, "valid", "max", ties="first")
    split = pool2d_backward(ones, x, 2, 2, "valid", "max", ties="split")
    np.testing.assert_array_equal(first, layer)
    np.testing.assert_allclose(split, reduce_max)
    assert not np.allclose(first, reduce_max) and not np.allclose(split, layer)
    assert layer[0, :, :, 0].tolist() == [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


def test_the_4x4_pooling_example():
    """Does lecture 03's 4x4 example with dout [[1, 2], [3, 4]] give the lecture's max and average gradients?"""
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], float).reshape(
        1, 4, 4, 1
    )
    r = np.array([[1, 2], [3, 4]], float).reshape(1, 2, 2, 1)
    dx_max = tape_layer(keras.layers.MaxPooling2D(2, dtype="float64"), x, r)[0, :, :, 0]
    dx_avg = tape_layer(keras.layers.AveragePooling2D(2, dtype="float64"), x, r)[0, :, :, 0]
    assert dx_max.tolist() == [[0, 0, 0, 0], [0, 1, 0, 2], [3, 0, 0, 0], [0, 0, 0, 4]]
    np.testing.assert_allclose(dx_avg, np.kron([[1, 2], [3, 4]], np.ones((2, 2))) / 4)


# ---------------------------------------------------------------- learning a kernel, equivariance, cost


def test_gradient_descent_recovers_the_edge_kernel_and_matches_keras_sgd():
    """Does w := w - lr * dw (MSE) match one Keras SGD step on Conv2D, and recover [[1, 0, -1]] x 3?"""
    w_true = np.array([[1, 0, -1]] * 3, float)[:, :, None, None]
    x = RNG.normal(size=(8, 10, 10, 1))
    y = conv2d_forward(x, w_true, np.zeros(1))
    lr, w, b = 0.1, np.zeros((3, 3, 1, 1)), np.zeros(1)
    conv = keras.layers.Conv2D(1, 3, dtype="float64")
    conv.build(x.shape)
    conv.set_weights([w, b])
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError(dtype="float64")(y, conv(x))
    keras.optimizers.SGD(learning_rate=lr).apply(
        tape.gradient(loss, conv.trainable_weights), conv.trainable_weights
    )
    for step in range(40):
        y_hat = conv2d_forward(x, w, b)
        _, dw, db = conv2d_backward(2 * (y_hat - y) / y_hat.size, x, w)
        w, b = w - lr * dw, b - lr * db
        if step == 0:
            np.testing.assert_allclose(conv.kernel.numpy(), w, atol=1e-12)
            np.testing.assert_allclose(conv.bias.numpy(), b, atol=1e-12)
            assert np.abs(w - w_true).max() > 0.5  # one step is not enough
    assert np.abs(w - w_true).max() < 1e-2 and abs(b[0]) < 1e-2


def test_translation_equivariance_of_conv2d_and_pooling():
    """Does shifting the input shift Conv2D's feature map, and a 2x2 pooled map only for even shifts?"""
    keras.utils.set_random_seed(0)
    image = np.zeros((1, 32, 32, 1))
    image[0, 8:14, 8:20, 0] = 1.0
    image[0, 8:20, 8:12, 0] = 1.0
    conv = keras.layers.Conv2D(4, 3, padding="same", dtype="float64")
    pool = keras.layers.MaxPooling2D(2, dtype="float64")

    def roll(a, rows, cols):
        return np.roll(a, (rows, cols), axis=(1, 2))

    maps = conv(image).numpy()
    np.testing.assert_allclose(conv(roll(image, 3, 5)).numpy(), roll(maps, 3, 5), atol=1e-12)
    pooled = pool(maps).numpy()
    np.testing.assert_allclose(
        pool(conv(roll(image, 2, 4))).numpy(), roll(pooled, 1, 2), atol=1e-12
    )
    odd = pool(conv(roll(image, 1, 1))).numpy()
    assert min(np.abs(odd - roll(pooled, a, c)).max() for a in (0, 1) for c in (0, 1)) > 0.1


def conv_macs(h_out, w_out, c_out, f_h, f_w, c_in):
    """Multiply-adds of a convolution: H_out W_out C_out * F_h F_w C_in."""
    return h_out * w_out * c_out * f_h * f_w * c_in


def test_conv_and_dense_cost_on_a_640x480_photo():
    """Do Keras' counts give 9,216,010 / 760 parameters and the all-ones trick 9,216,000 / 230,400,000 multiply-adds?"""
    height, width = 480, 640
    dense = keras.Sequential([keras.Input((height * width * 3,)), keras.layers.Dense(10)])
    conv = keras.Sequential(
        [keras.Input((height, width, 3)), keras.layers.Conv2D(10, 5, padding="same")]
    )
    assert dense.count_params() == 9_216_010 and conv.count_params() == 760
    assert dense.count_params() // conv.count_params() == 12_126

    # all-ones input and weights, no bias: each output counts its products. Padding the ones image with
    # a ring of two ones and using a valid convolution counts "same"'s products with its padding too.
    ones = np.ones((1, height + 4, width + 4, 3), "float32")
    counting = keras.layers.Conv2D(10, 5, use_bias=False, kernel_initializer="ones")
    counted = np.asarray(counting(ones), np.float64).sum()
    assert counted == conv_macs(height, width, 10, 5, 5, 3) == 230_400_000
    valid = np.asarray(counting(ones[:, 2:-2, 2:-2]), np.float64).sum()
    assert valid == conv_macs(476, 636, 10, 5, 5, 3) == 227_052_000
    assert valid != conv_macs(
        height, width, 10, 5, 5, 3
    )  # the input size is the wrong H, W for "valid"
    dense_ones = keras.layers.Dense(10, use_bias=False, kernel_initializer="ones")
    counted_dense = np.asarray(
        dense_ones(np.ones((1, height * width * 3), "float32")), np.float64
    ).sum()
    assert counted_dense == height * width * 3 * 10 == 9_216_000
    assert counted == 25 * counted_dense


# ---------------------------------------------------------------- the answers' numbers


def _answers_markdown() -> str:
    path = REPO / "course" / "answers" / "06_backprop_through_a_cnn.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def test_answers_06_numbers():
    """Are the numbers written in answers 06 (1-D gradients, the 28x28x32 counts) what NumPy and Keras give?"""
    text = _answers_markdown()
    x = np.array([1, 2, -1, 0, 3], float).reshape(1, 1, 5, 1)
    w = np.array([1, 0, -1], float).reshape(1, 3, 1, 1)
    dx, dw, db = conv2d_backward(np.array([1, 1, -2], float).reshape(1, 1, 3, 1), x, w)
    assert dw.ravel().tolist() == [5, 1, -7] and db.tolist() == [0]
    assert dx.ravel().tolist() == [1, 1, -3, -1, 2]
    assert "$dw = [5, 1, -7]$" in text and "$dx = [1, 1, -3, -1, 2]$" in text
    conv = keras.Sequential([keras.Input((28, 28, 32)), keras.layers.Conv2D(64, 3, padding="same")])
    dense = keras.Sequential([keras.Input((28 * 28 * 32,)), keras.layers.Dense(64)])
    assert (conv.count_params(), dense.count_params()) == (18_496, 1_605_696)
    assert conv_macs(28, 28, 64, 3, 3, 32) == 14_450_688
    for number in ["18,496", "14,450,688", "1,605,696", "1,605,632"]:
        assert f"**{number}**" in text
    assert re.search(r"\$\[\[1/3, 1/3\], \[1/3, 0\]\]\$", text)
