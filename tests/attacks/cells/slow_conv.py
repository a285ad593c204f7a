"""A correct conv2d_im2col that is as slow as the four-loop baseline (loops over n, i, j, k).

It never calls ``np.sum`` (which one attack slows down), so its own speed is honest."""

import numpy as np


def conv2d_im2col(x, w, b, stride=1, padding=0):
    x = np.asarray(x, dtype=np.float64)
    n_, h, wd, _ = x.shape
    fh, fw, _, c_out = w.shape

    def same(n, f):
        total = max((-(-n // stride) - 1) * stride + f - n, 0)
        return total // 2, total - total // 2

    if padding == "same":
        (top, bottom), (left, right) = same(h, fh), same(wd, fw)
    else:
        top = bottom = left = right = 0 if padding == "valid" else int(padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    h_out = (xp.shape[1] - fh) // stride + 1
    w_out = (xp.shape[2] - fw) // stride + 1
    out = np.zeros((n_, h_out, w_out, c_out))
    for n in range(n_):
        for i in range(h_out):
            for j in range(w_out):
                patch = xp[n, i * stride : i * stride + fh, j * stride : j * stride + fw, :]
                for k in range(c_out):
                    out[n, i, j, k] = np.dot(patch.ravel(), w[..., k].ravel()) + (
                        0.0 if b is None else b[k]
                    )
    return out
