"""Versions of the a3_backprop solution that break one rule each (see tests/test_visible_rules.py).

``BREAKERS[(function, rule)]`` redefines ``function`` using ``_orig``, the solution's own version.
"""

from __future__ import annotations

BREAKERS: dict[tuple[str, str], str] = {
    ("numerical_gradient", "leaves x unchanged after the call"): """
def numerical_gradient(f, x, h=1e-5):
    grad = _orig(f, x, h)
    x += h  # the last nudge left in place
    return grad
""",
    ("conv2d_backward", "returns the tuple (dx, dw, db)"): """
def conv2d_backward(dout, x, w, stride=1, padding=0):
    dx, dw, db = _orig(dout, x, w, stride, padding)
    return {"dx": dx, "dw": dw, "db": db}
""",
    ("conv2d_backward", "accepts padding='same' (TensorFlow's rule)"): """
def conv2d_backward(dout, x, w, stride=1, padding=0):
    if padding == "same":
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
    return _orig(dout, x, w, stride, padding)
""",
    ("conv2d_backward", "accepts padding='valid'"): """
def conv2d_backward(dout, x, w, stride=1, padding=0):
    if padding == "valid":
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
    return _orig(dout, x, w, stride, padding)
""",
    ("batchnorm_forward", "returns the tuple (y, moving_mean, moving_var)"): """
def batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99, epsilon=1e-3):
    y, mm, mv = _orig(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon)
    return {"y": y, "moving_mean": mm, "moving_var": mv}
""",
    ("batchnorm_forward", "no NaN for a batch of one value per channel"): """
def batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99, epsilon=1e-3):
    if training and x.size == x.shape[-1]:  # one value per channel: the unbiased variance is 0 / 0
        return np.full(x.shape, np.nan), np.full(x.shape[-1], np.nan), np.full(x.shape[-1], np.nan)
    return _orig(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon)
""",
    ("dropout_forward", "returns x unchanged at inference (training=False)"): """
def dropout_forward(x, rate, training, rng):
    if not training:  # the original paper's dropout: scaled at test time instead
        return x * (1 - rate), None
    return _orig(x, rate, training, rng)
""",
    ("dropout_forward", "draws the mask from the rng it is given"): """
def dropout_forward(x, rate, training, rng):
    return _orig(x, rate, training, np.random.default_rng())
""",
    ("softmax_cross_entropy", "stable for logits of 1e3 (no NaN or inf)"): """
def softmax_cross_entropy(logits, y):
    e = np.exp(logits)  # no shift: overflows at 1e3
    p = e / e.sum(axis=1, keepdims=True)
    n = len(y)
    d = p.copy()
    d[np.arange(n), y] -= 1
    return -np.mean(np.log(p[np.arange(n), y])), d / n
""",
    ("adam_step", "t counts from 1 (the first call has t=1)"): """
def adam_step(w, g, m, v, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    return _orig(w, g, m, v, t + 1, lr, beta_1, beta_2, epsilon)  # as if t counted from 0
""",
}
