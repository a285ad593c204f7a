"""Reference of a4_keras_training in NumPy: schedules, plateau, class weights, IoU, edge loss.

Imported only where points are decided (the grading parent, or the kernel in
nbgrader's harness); the tests compare every function here with Keras,
TensorFlow or scikit-learn. Known wrong variants sit next to the right answer,
so that the checks can name a mistake.
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-7  # soft IoU's epsilon, per sample


# --- learning-rate schedules ------------------------------------------------------------


def step_decay(epoch: int, lr0: float, drop: float = 0.5, every: int = 10) -> float:
    """``lr0 * drop ** floor(epoch / every)``: the rate falls by ``drop`` every ``every`` epochs."""
    return float(lr0 * drop ** math.floor(epoch / every))


def step_decay_late(epoch: int, lr0: float, drop: float = 0.5, every: int = 10) -> float:
    """Off by one epoch: epochs counted from 1 (``floor((epoch + 1) / every)``)."""
    return float(lr0 * drop ** math.floor((epoch + 1) / every))


def step_decay_smooth(epoch: int, lr0: float, drop: float = 0.5, every: int = 10) -> float:
    """No floor: a smooth exponential instead of steps."""
    return float(lr0 * drop ** (epoch / every))


def exponential_decay(epoch: int, lr0: float, rate: float) -> float:
    """``lr0 * rate ** epoch``: epoch 0 trains at ``lr0``."""
    return float(lr0 * rate**epoch)


def exponential_decay_late(epoch: int, lr0: float, rate: float) -> float:
    """Off by one epoch: ``lr0 * rate ** (epoch + 1)``."""
    return float(lr0 * rate ** (epoch + 1))


# --- ReduceLROnPlateau -------------------------------------------------------------------


def plateau_rates(
    monitored: list[float],
    lr0: float,
    patience: int,
    factor: float,
    min_lr: float,
    min_delta: float = 1e-4,
) -> list[float]:
    """The learning rate of each epoch under Keras's ``ReduceLROnPlateau`` (mode ``min``,
    no cooldown), given the monitored value at the end of each epoch.

    An epoch improves when its value is below the best so far by more than ``min_delta``;
    after ``patience`` epochs in a row without an improvement the rate is multiplied by
    ``factor`` (never below ``min_lr``) from the next epoch on, and the count starts again.
    """
    rates, lr, best, wait = [], float(lr0), math.inf, 0
    for value in monitored:
        rates.append(lr)
        if value < best - min_delta:
            best, wait = value, 0
            continue
        wait += 1
        if wait >= patience and lr > np.float32(min_lr):
            lr, wait = max(lr * factor, min_lr), 0
    return rates


# --- class weights -----------------------------------------------------------------------


def balanced_class_weights(y) -> dict[int, float]:
    """``n_samples / (n_classes * count_c)`` for every class ``c`` present in ``y``."""
    classes, counts = np.unique(np.asarray(y), return_counts=True)
    n = counts.sum()
    return {int(c): float(n / (len(classes) * k)) for c, k in zip(classes, counts, strict=True)}


# --- masks and IoU -----------------------------------------------------------------------


def mask_iou(pred, target, threshold: float = 0.5, empty: float = 1.0) -> float:
    """IoU of ``pred > threshold`` and ``target > threshold`` over the whole array; ``empty``
    when both are empty."""
    p, t = np.asarray(pred) > threshold, np.asarray(target) > threshold
    union = np.logical_or(p, t).sum()
    if union == 0:
        return float(empty)
    return float(np.logical_and(p, t).sum() / union)


def mask_dice(pred, target, threshold: float = 0.5) -> float:
    """The Dice coefficient ``2|A n B| / (|A| + |B|)``, a mistake for IoU."""
    p, t = np.asarray(pred) > threshold, np.asarray(target) > threshold
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(p, t).sum() / total)


def soft_iou_loss(y_true, y_pred, per_sample: bool = True, eps: float = EPS) -> float:
    """``1 - sum(t p) / (sum t + sum p - sum(t p) + eps)`` per sample, averaged over the batch
    (``per_sample=False``: one IoU over the whole batch, a mistake)."""
    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    axes = tuple(range(1, t.ndim)) if per_sample else None
    inter = (t * p).sum(axis=axes)
    union = t.sum(axis=axes) + p.sum(axis=axes) - inter
    return float(np.mean(1.0 - inter / (union + eps)))


# --- edge-aware loss ---------------------------------------------------------------------

SOBEL_Y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64)


def sobel_edges(x) -> np.ndarray:
    """``tf.image.sobel_edges`` in NumPy: ``(N, H, W, C)`` -> ``(N, H, W, C, 2)``, the last axis
    (dy, dx), reflect padding."""
    x = np.asarray(x, np.float64)
    h, w = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    out = np.zeros((*x.shape, 2))
    for i in range(3):
        for j in range(3):
            window = padded[:, i : i + h, j : j + w, :]
            out[..., 0] += SOBEL_Y[i, j] * window
            out[..., 1] += SOBEL_Y.T[i, j] * window
    return out


def edge_term(y_true, y_pred, magnitude: bool = False) -> float:
    """Mean squared difference of the Sobel maps (both components; or of the magnitudes)."""
    et, ep = sobel_edges(y_true), sobel_edges(y_pred)
    if magnitude:
        et, ep = np.sqrt((et**2).sum(-1)), np.sqrt((ep**2).sum(-1))
    return float(np.mean((et - ep) ** 2))


def edge_aware_loss(y_true, y_pred, weight: float = 1.0, magnitude: bool = False) -> float:
    """MSE plus ``weight`` times the MSE of the Sobel edge maps: one scalar."""
    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    return float(np.mean((t - p) ** 2) + weight * edge_term(t, p, magnitude))


# --- fine-tuning -------------------------------------------------------------------------


def top_weighted_layers(layers: list[tuple[str, bool, bool]], n_layers: int) -> list[str]:
    """Names of the top ``n_layers`` layers that have weights and are not batch norm.

    ``layers``: ``(name, has_weights, is_batchnorm)`` for each layer of the base, input to
    output."""
    weighted = [name for name, has_weights, is_bn in layers if has_weights and not is_bn]
    return weighted[len(weighted) - n_layers :] if n_layers > 0 else []


def top_layers_counting_bn(layers: list[tuple[str, bool, bool]], n_layers: int) -> list[str]:
    """A mistake: batch-norm layers counted towards ``n_layers`` (and then left frozen)."""
    weighted = [(name, is_bn) for name, has_weights, is_bn in layers if has_weights]
    top = weighted[len(weighted) - n_layers :] if n_layers > 0 else []
    return [name for name, is_bn in top if not is_bn]
