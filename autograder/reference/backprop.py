"""Reference backward passes and training rules for grading a3_backprop.

Written independently of the solution notebook (sliding windows, einsum and
strided slices) and validated against ``tf.GradientTape``, ``keras.optimizers``
and ``keras.layers.BatchNormalization`` by ``tests/test_a3_reference.py``.
NumPy only: grading never imports TensorFlow. Only the verifying process
imports this module; the sandboxed child that runs student code never does.

The keyword flags of each function (``flip``, ``crop``, ``spread``, ...)
switch on a known mistake; the checks use them only to name that mistake.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autograder.reference.convolution import conv2d, pad_amounts, pool2d

__all__ = [
    "conv2d",
    "pool2d",
    "conv2d_backward",
    "pool2d_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "softmax_cross_entropy",
    "sgd_momentum_step",
    "rmsprop_step",
    "adam_step",
    "numerical_gradient",
]


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


# --- convolution --------------------------------------------------------------------------


def conv2d_backward(
    dout, x, w, stride: int = 1, padding=0, flip: bool = True, crop: bool = True, db_axes=(0, 1, 2)
):
    """Gradients (dx, dw, db) of ``sum(dout * conv2d(x, w, b, stride, padding))``.

    ``flip=False``: dx scattered with the kernel flipped in H and W (the "unflipped kernel"
    mistake of a full convolution written without the flip); ``crop=False``: dx of the padded
    input; ``db_axes``: the axes db is summed over.
    """
    dout, x, w = _f64(dout), _f64(x), _f64(w)
    n, h, wd, c = x.shape
    fh, fw, _, _ = w.shape
    (top, bottom), (left, right) = (
        pad_amounts(h, fh, padding, stride),
        pad_amounts(wd, fw, padding, stride),
    )
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    ho, wo = dout.shape[1:3]
    win = sliding_window_view(xp, (fh, fw), axis=(1, 2))[:, ::stride, ::stride][:, :ho, :wo]
    dw = np.einsum("nhwcuv,nhwk->uvck", win, dout)  # (F_h, F_w, C_in, C_out)
    db = dout.sum(axis=tuple(db_axes))
    wk = w if flip else w[::-1, ::-1]
    dxp = np.zeros_like(xp)
    for u in range(fh):
        for v in range(fw):
            rows = slice(u, u + stride * (ho - 1) + 1, stride)
            cols = slice(v, v + stride * (wo - 1) + 1, stride)
            dxp[:, rows, cols, :] += np.einsum("nhwk,ck->nhwc", dout, wk[u, v])
    dx = dxp[:, top : top + h, left : left + wd] if crop else dxp
    return dx, dw, db


# --- pooling ------------------------------------------------------------------------------


def pool2d_backward(
    dout,
    x,
    pool_size: int = 2,
    stride: int | None = None,
    mode: str = "max",
    spread: bool = False,
    divide: bool = True,
):
    """Gradient of ``sum(dout * pool2d(x, ...))`` for valid max or average pooling.

    Max routes each window's gradient to the first maximum in row-major order (ties are
    never graded); overlapping windows accumulate. ``spread=True`` sends the max gradient to
    every element of the window; ``divide=False`` leaves out the 1 / pool_size² of "avg".
    """
    stride = pool_size if stride is None else stride
    dout, x = _f64(dout), _f64(x)
    ho, wo = dout.shape[1:3]
    win = sliding_window_view(x, (pool_size, pool_size), axis=(1, 2))[:, ::stride, ::stride]
    win = win[:, :ho, :wo]  # (N, Ho, Wo, C, p, p)
    dx = np.zeros_like(x)
    if mode == "max" and not spread:
        flat = win.reshape(*win.shape[:4], -1)
        first = flat.argmax(axis=-1)  # (N, Ho, Wo, C)
    for u in range(pool_size):
        for v in range(pool_size):
            rows = slice(u, u + stride * (ho - 1) + 1, stride)
            cols = slice(v, v + stride * (wo - 1) + 1, stride)
            if mode == "max":
                share = dout if spread else dout * (first == u * pool_size + v)
            else:
                share = dout / (pool_size * pool_size) if divide else dout
            dx[:, rows, cols, :] += share
    return dx


# --- batch normalization ------------------------------------------------------------------


def batchnorm_forward(
    x,
    gamma,
    beta,
    moving_mean,
    moving_var,
    training: bool,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
    unbiased: bool = False,
    swap_momentum: bool = False,
    update_at_inference: bool = False,
):
    """``keras.layers.BatchNormalization`` over every axis but the last: (y, moving_mean, moving_var).

    Mistakes: ``unbiased`` (variance divided by m - 1), ``swap_momentum``
    (``(1 - m)·old + m·batch``), ``update_at_inference`` (moving statistics updated from the
    batch at inference too, the batch still normalised with the moving ones).
    """
    x = _f64(x)
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    count = x.size // x.shape[-1]
    var = x.var(axis=axes, ddof=1 if unbiased and count > 1 else 0)
    if unbiased and count == 1:
        var = np.full_like(mean, np.nan)  # 0 / 0: what x.var(ddof=1) gives on one value
    keep, take = (1 - momentum, momentum) if swap_momentum else (momentum, 1 - momentum)
    new_mean = keep * _f64(moving_mean) + take * mean
    new_var = keep * _f64(moving_var) + take * var
    if training:
        y = (x - mean) / np.sqrt(var + epsilon) * _f64(gamma) + _f64(beta)
        return y, new_mean, new_var
    y = (x - _f64(moving_mean)) / np.sqrt(_f64(moving_var) + epsilon) * _f64(gamma) + _f64(beta)
    if update_at_inference:
        return y, new_mean, new_var
    return y, _f64(moving_mean), _f64(moving_var)


def batchnorm_backward(dy, x, gamma, epsilon: float = 1e-3, mean_terms: bool = True):
    """Training-mode gradients (dx, dgamma, dbeta) of ``sum(dy * y)``.

    ``mean_terms=False`` treats the batch mean and variance as constants (the mistake).
    """
    dy, x, gamma = _f64(dy), _f64(x), _f64(gamma)
    axes = tuple(range(x.ndim - 1))
    m = x.size // x.shape[-1]
    mean = x.mean(axis=axes)
    inv = 1.0 / np.sqrt(x.var(axis=axes) + epsilon)
    xhat = (x - mean) * inv
    dgamma = (dy * xhat).sum(axis=axes)
    dbeta = dy.sum(axis=axes)
    if not mean_terms:
        return dy * gamma * inv, dgamma, dbeta
    dx = gamma * inv / m * (m * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


# --- loss ---------------------------------------------------------------------------------


def softmax_cross_entropy(logits, y, mean: bool = True):
    """(mean cross-entropy, its gradient) for integer labels; stable for any logits."""
    z = _f64(logits)
    y = np.asarray(y).astype(np.int64)
    n = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(n), y].sum()
    dz = np.exp(logp)
    dz[np.arange(n), y] -= 1.0
    return (loss / n, dz / n) if mean else (loss, dz)


# --- optimisers (Keras 3's update_step, one variable) -------------------------------------


def sgd_momentum_step(w, g, velocity, lr, momentum=0.0, nesterov=False):
    """Keras 3 ``SGD``: ``v = momentum·v − lr·g``; ``w += v`` (Nesterov ``w += momentum·v − lr·g``);
    with ``momentum = 0`` plain ``w −= lr·g`` and the velocity unchanged."""
    w, g, velocity = _f64(w), _f64(g), _f64(velocity)
    if momentum == 0:
        return w - lr * g, velocity
    v = momentum * velocity - lr * g
    return (w + momentum * v - lr * g if nesterov else w + v), v


def rmsprop_step(w, g, avg_sq, lr, rho=0.9, epsilon=1e-7, eps_outside=False):
    """Keras 3 ``RMSprop`` (no momentum, not centred): ε **inside** the square root."""
    w, g, avg_sq = _f64(w), _f64(g), _f64(avg_sq)
    a = rho * avg_sq + (1 - rho) * g * g
    denom = np.sqrt(a) + epsilon if eps_outside else np.sqrt(a + epsilon)
    return w - lr * g / denom, a


def adam_step(
    w,
    g,
    m,
    v,
    t,
    lr,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-7,
    form: str = "keras",
):
    """Keras 3 ``Adam``: α = lr·√(1−β₂ᵗ)/(1−β₁ᵗ); ``w −= α·m / (√v + ε)``, ``t`` from 1.

    Mistakes (``form``): ``"no_bias_correction"`` (``w −= lr·m / (√v + ε)``), ``"eps_inside"``
    (``α·m / √(v + ε)``), ``"corrected"`` (CS231n's ``lr·m̂ / (√v̂ + ε)``: ε on the corrected v̂).
    """
    w, g, m, v = _f64(w), _f64(g), _f64(m), _f64(v)
    m = m + (g - m) * (1 - beta_1)
    v = v + (g * g - v) * (1 - beta_2)
    alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    if form == "no_bias_correction":
        step = lr * m / (np.sqrt(v) + epsilon)
    elif form == "eps_inside":
        step = alpha * m / np.sqrt(v + epsilon)
    elif form == "corrected":
        step = lr * (m / (1 - beta_1**t)) / (np.sqrt(v / (1 - beta_2**t)) + epsilon)
    else:
        step = alpha * m / (np.sqrt(v) + epsilon)
    return w - step, m, v


# --- gradient check -----------------------------------------------------------------------


def numerical_gradient(f, x, h: float = 1e-5) -> np.ndarray:
    """Central differences (f(x + h e_i) − f(x − h e_i)) / 2h of a scalar f at x."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = float(f(x))
        x[i] = old - h
        down = float(f(x))
        x[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad
