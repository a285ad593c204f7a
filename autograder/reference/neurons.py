"""Reference neurons, activations, softmax, cross-entropy and backpropagation for a0_neurons.

Written independently of the solution notebook and validated against ``keras.activations``,
Keras's sparse categorical cross-entropy, ``tf.GradientTape`` and central differences by
``tests/test_a0_reference.py``. NumPy only: grading never imports TensorFlow. Only the
verifying process imports this module; the sandboxed child that runs student code never does.

Known wrong variants (``mistake=...``) exist only to name a student's mistake.
"""

from __future__ import annotations

import numpy as np

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_Y = np.array([0, 1, 1, 0])
TRUTH = {
    "and": np.array([0, 0, 0, 1.0]),
    "or": np.array([0, 1, 1, 1.0]),
    "nand": np.array([1, 1, 1, 0.0]),
    "nor": np.array([1, 0, 0, 0.0]),
    "xor": np.array([0, 1, 1, 0.0]),
}
NOT_X = np.array([[0.0], [1.0]])
NOT_TRUTH = np.array([1.0, 0.0])
LEAKY_ALPHA = 0.01
ELU_ALPHA = 1.0
EPS = 1e-7  # Keras's epsilon: cross_entropy clips probabilities below at this
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softsign")


def step(z: np.ndarray) -> np.ndarray:
    """1 where z > 0, else 0 (so step(0) = 0)."""
    return (np.asarray(z) > 0).astype(np.float64)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) without overflow: exp of a non-positive number only."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def activation(name: str, z, alpha: float | None = None) -> np.ndarray:
    """The activation ``name`` of z (float64); ``alpha`` overrides leaky ReLU's or ELU's."""
    z = np.asarray(z, dtype=np.float64)
    if name == "step":
        return step(z)
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        a = LEAKY_ALPHA if alpha is None else alpha
        return np.where(z > 0, z, a * z)
    if name == "elu":
        a = ELU_ALPHA if alpha is None else alpha
        return np.where(z > 0, z, a * np.expm1(np.minimum(z, 0.0)))
    if name == "softsign":
        return z / (1.0 + np.abs(z))
    raise ValueError(f"unknown activation {name!r}")


def activation_grad(
    name: str, z, alpha: float | None = None, at_zero: float | None = None
) -> np.ndarray:
    """Exact derivative of ``activation(name, z)``; ReLU'(0) = 0, leaky ReLU'(0) = alpha.

    ``at_zero`` replaces the value at z == 0 (only to name a mistake)."""
    z = np.asarray(z, dtype=np.float64)
    if name == "sigmoid":
        s = sigmoid(z)
        g = s * (1.0 - s)
    elif name == "tanh":
        g = 1.0 - np.tanh(z) ** 2
    elif name == "relu":
        g = (z > 0).astype(np.float64)
    elif name == "leaky_relu":
        a = LEAKY_ALPHA if alpha is None else alpha
        g = np.where(z > 0, 1.0, a)
    elif name == "elu":
        a = ELU_ALPHA if alpha is None else alpha
        g = np.where(z > 0, 1.0, a * np.exp(np.minimum(z, 0.0)))
    elif name == "softsign":
        g = 1.0 / (1.0 + np.abs(z)) ** 2
    else:
        raise ValueError(f"unknown activation {name!r}")
    if at_zero is not None:
        g = np.where(z == 0, at_zero, g)
    return g


def central_difference(name: str, z, h: float = 1e-6) -> np.ndarray:
    """(f(z + h) - f(z - h)) / 2h of the reference activation, in float64."""
    z = np.asarray(z, dtype=np.float64)
    return (activation(name, z + h) - activation(name, z - h)) / (2 * h)


def neuron(x, w, b, name: str = "step") -> np.ndarray:
    """activation(x @ w + b) for x (N, D), w (D,)."""
    x = np.asarray(x, dtype=np.float64)
    return activation(name, x @ np.asarray(w, dtype=np.float64) + float(b))


def xor_features(x) -> np.ndarray:
    """(N, 2) -> (N, 3): x1, x2, x1 * x2."""
    x = np.asarray(x, dtype=np.float64)
    return np.c_[x, x[:, 0] * x[:, 1]]


def step_network(x, w1, b1, w2, b2) -> np.ndarray:
    """Two layers of step neurons: step(step(x @ w1 + b1) @ w2 + b2), w2 (H,) or (H, 1)."""
    h = step(np.asarray(x, dtype=np.float64) @ w1 + b1)
    return step(h @ np.reshape(w2, (-1,)) + float(np.reshape(b2, (-1,))[0]))


def softmax(z) -> np.ndarray:
    """Row-wise softmax, the row maximum subtracted first (stable for any finite logits)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_unstable(z) -> np.ndarray:
    """The mistake: exp of the raw logits (inf / inf = NaN at large logits)."""
    with np.errstate(all="ignore"):
        e = np.exp(np.asarray(z, dtype=np.float64))
        return e / e.sum(axis=1, keepdims=True)


def cross_entropy(probs, y, eps: float = EPS, reduce: str = "mean") -> float | np.ndarray:
    """Mean of -log(max(p[i, y_i], eps)) over the batch (``reduce``: mean | sum | none)."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y).astype(int)
    with np.errstate(divide="ignore"):
        losses = -np.log(np.clip(probs[np.arange(len(y)), y], eps, 1.0))
    if reduce == "none":
        return losses
    return float(losses.sum() if reduce == "sum" else losses.mean())


def mlp_forward(x, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """x -> W1, b1 -> tanh -> W2, b2 -> softmax; returns (probs, hidden)."""
    x = np.asarray(x, dtype=np.float64)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    u = np.tanh(x @ p["W1"] + p["b1"])  # (N, H)
    return softmax(u @ p["W2"] + p["b2"]), u


def mlp_backward(x, y, params: dict, mistake: str | None = None) -> dict[str, np.ndarray]:
    """Gradients of the mean cross-entropy; ``mistake`` in (None, "no_mean", "no_tanh_grad",
    "transposed") gives a known wrong variant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(int)
    n = len(x)
    probs, u = mlp_forward(x, params)
    dz2 = probs.copy()
    dz2[np.arange(n), y] -= 1.0
    if mistake != "no_mean":
        dz2 /= n
    du = dz2 @ np.asarray(params["W2"], dtype=np.float64).T
    dz1 = du if mistake == "no_tanh_grad" else du * (1.0 - u**2)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": u.T @ dz2, "b2": dz2.sum(axis=0)}
    if mistake == "transposed":
        grads["W1"], grads["W2"] = grads["W1"].T, grads["W2"].T
    return grads


def xor_accuracy(params: dict) -> float:
    """Fraction of the four XOR inputs that the network classifies right (argmax of probs)."""
    probs, _ = mlp_forward(XOR_X, params)
    return float(np.mean(np.argmax(probs, axis=1) == XOR_Y))
