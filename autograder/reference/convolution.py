"""Reference convolution, pooling and friends for grading a1_convolution.

Written independently of the solution notebook (sliding windows and einsum, no
loops) and validated against ``keras.layers.Conv2D``, ``MaxPooling2D``,
``AveragePooling2D`` and ``scipy.signal`` by ``tests/test_reference.py``.
NumPy only: grading never imports TensorFlow. Only the verifying process
imports this module; the sandboxed child that runs student code never does.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

KERNELS = {
    "edge": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64),
    "box_blur": np.full((3, 3), 1.0 / 9.0),
}


def pad_amounts(n: int, f: int, padding, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding along one axis; TensorFlow's rule for "same"."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        out = -(-n // stride)
        total = max((out - 1) * stride + dilation * (f - 1) + 1 - n, 0)
        return total // 2, total - total // 2
    return int(padding), int(padding)


def output_size(n: int, f: int, padding=0, stride: int = 1, dilation: int = 1) -> int:
    """floor((n + 2p - d(f-1) - 1)/s) + 1, with "same" giving ceil(n/s)."""
    if padding == "same":
        return math.ceil(n / stride)
    lo, hi = pad_amounts(n, f, padding, stride, dilation)
    return (n + lo + hi - dilation * (f - 1) - 1) // stride + 1


def zero_pad(x: np.ndarray, pad) -> np.ndarray:
    """Pad H and W of an NHWC batch with zeros."""
    (top, bottom), (left, right) = ((pad, pad), (pad, pad)) if np.isscalar(pad) else pad
    return np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (top, bottom), (left, right), (0, 0)))


def dilate_kernel(w: np.ndarray, dilation: int) -> np.ndarray:
    """Insert ``dilation - 1`` zeros between kernel taps along H and W."""
    fh, fw = w.shape[:2]
    out = np.zeros(((fh - 1) * dilation + 1, (fw - 1) * dilation + 1) + w.shape[2:])
    out[::dilation, ::dilation] = w
    return out


def conv2d(
    x, w, b=None, stride: int = 1, padding=0, dilation: int = 1, same_extra_first: bool = False
):
    """Keras ``Conv2D`` (cross-correlation), NHWC input and HWIO kernel.

    ``same_extra_first`` puts the odd extra pad row/column top/left: the
    mistake of ignoring TensorFlow's rule, used only to name that mistake.
    """
    x = np.asarray(x, dtype=np.float64)
    w0 = np.asarray(w, dtype=np.float64)
    pads = []
    for n, f in ((x.shape[1], w0.shape[0]), (x.shape[2], w0.shape[1])):
        lo, hi = pad_amounts(n, f, padding, stride, dilation)
        pads.append((hi, lo) if same_extra_first else (lo, hi))
    w = dilate_kernel(w0, dilation)
    kh, kw = w.shape[:2]
    xp = zero_pad(x, tuple(pads))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[
        :, ::stride, ::stride
    ]  # (N, Ho, Wo, C, kh, kw)
    out = np.einsum("nhwcuv,uvck->nhwk", win, w)
    if b is not None:
        out = out + np.asarray(b, dtype=np.float64)
    return out


def corr2d(image, kernel):
    """Valid 2-D cross-correlation of one channel."""
    return conv2d(np.asarray(image)[None, :, :, None], np.asarray(kernel)[:, :, None, None])[
        0, :, :, 0
    ]


def conv2d_true(image, kernel):
    """Valid 2-D true convolution: the kernel flipped in both axes."""
    return corr2d(image, np.asarray(kernel)[::-1, ::-1])


def pool2d(x, pool_size: int = 2, stride: int | None = None, mode: str = "max"):
    """Valid max or average pooling of an NHWC batch."""
    stride = pool_size if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    win = sliding_window_view(x, (pool_size, pool_size), axis=(1, 2))[:, ::stride, ::stride]
    return win.max(axis=(-2, -1)) if mode == "max" else win.mean(axis=(-2, -1))


def im2col(x, f_h: int, f_w: int, stride: int = 1, order: str = "uvc"):
    """Patches as rows (n, i, j), columns (u, v, c); ``order="cuv"`` is the mistake."""
    x = np.asarray(x, dtype=np.float64)
    win = sliding_window_view(x, (f_h, f_w), axis=(1, 2))[
        :, ::stride, ::stride
    ]  # (N, Ho, Wo, C, u, v)
    axes = (0, 1, 2, 4, 5, 3) if order == "uvc" else (0, 1, 2, 3, 4, 5)
    return win.transpose(axes).reshape(-1, f_h * f_w * x.shape[-1])


def gaussian_kernel_1d(sigma: float, radius: int, normalise: bool = True):
    """exp(-k^2 / (2 sigma^2)) for k = -radius..radius, summing to 1."""
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(k**2) / (2.0 * sigma**2))
    return g / g.sum() if normalise else g


def separable_blur(image, sigma: float, radius: int):
    """Gaussian blur, valid region, as one 2-D correlation with the outer-product kernel."""
    g = gaussian_kernel_1d(sigma, radius)
    return corr2d(image, np.outer(g, g))
