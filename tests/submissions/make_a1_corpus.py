"""Regenerate the a1_convolution sample submissions from the current release.

``python tests/submissions/make_a1_corpus.py`` writes
``tests/submissions/a1_convolution/submitted/<student>/a1_convolution/a1_convolution.ipynb``
and ``expected.csv``. A student's notebook is the released one with each
solution cell filled in, as a student would: with the solution's code, or with
a known mistake, or with something hostile added.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import Corpus  # noqa: E402

AID = "a1_convolution"
FULL = 21
CORPUS = Corpus(AID)
notebook, sub = CORPUS.notebook, CORPUS.sub


MISTAKES = {
    # student id: (solution cells replaced, expected score)
    "mistake_no_plus_one": (sub("conv_output_size_impl", "conv_output_size", "// stride + 1", "// stride"), FULL - 2),
    "mistake_corr2d_flips": ({"corr2d_impl": '''
def corr2d(image, kernel):
    k = kernel[::-1, ::-1]  # flipped: this is true convolution, not what Keras does
    h, w = image.shape
    fh, fw = k.shape
    return np.array([[np.sum(image[i:i + fh, j:j + fw] * k) for j in range(w - fw + 1)] for i in range(h - fh + 1)])


def conv2d_true(image, kernel):
    k = kernel[::-1, ::-1]
    h, w = image.shape
    fh, fw = k.shape
    return np.array([[np.sum(image[i:i + fh, j:j + fw] * k) for j in range(w - fw + 1)] for i in range(h - fh + 1)])
'''}, FULL - 2),
    "mistake_no_flip": (sub("corr2d_impl", "conv2d_true", "return corr2d(image, kernel[::-1, ::-1])", "return corr2d(image, kernel)"), FULL - 1),
    "mistake_box_blur_sum": (sub("make_kernel_impl", "make_kernel", '"box_blur": np.ones((3, 3)) / 9', '"box_blur": np.ones((3, 3))'), FULL - 1),
    "mistake_kernel_keyerror": (sub("make_kernel_impl", "make_kernel", '    if name not in kernels:\n        raise ValueError(f"unknown kernel {name!r}; choose one of {sorted(kernels)}")\n', ""), FULL - 1),
    "mistake_no_bias": (sub("conv2d_forward_impl", "conv2d_forward", "    if b is not None:\n        out += b\n", ""), FULL - 4),
    "mistake_same_top_left": (sub("conv2d_forward_impl", "same_padding", "return total // 2, total - total // 2", "return total - total // 2, total // 2"), FULL - 2 - 2),
    "mistake_pool_stride_one": (sub("pool2d_forward_impl", "pool2d_forward", "stride = pool_size if stride is None else stride", "stride = 1 if stride is None else stride"), FULL - 2),
    "mistake_im2col_cuv": ({"im2col_impl": '''
def im2col(x, f_h, f_w, stride=1):
    n, h, w, c = x.shape
    h_out = (h - f_h) // stride + 1
    w_out = (w - f_w) // stride + 1
    cols = np.empty((n, h_out, w_out, c, f_h, f_w))
    for u in range(f_h):
        for v in range(f_w):
            cols[:, :, :, :, u, v] = x[:, u : u + stride * (h_out - 1) + 1 : stride, v : v + stride * (w_out - 1) + 1 : stride, :]
    return cols.reshape(n * h_out * w_out, c * f_h * f_w)  # columns (c, u, v)
''', "conv2d_im2col_impl": CORPUS.code["conv2d_im2col_impl"].replace(
        "im2col(xp, fh, fw, stride) @ w.reshape(-1, c_out)", "im2col(xp, fh, fw, stride) @ w.transpose(2, 0, 1, 3).reshape(-1, c_out)")}, FULL - 2),
    "mistake_im2col_slow": ({"conv2d_im2col_impl": '''
def conv2d_im2col(x, w, b, stride=1, padding=0):
    # correct, but four loops: not vectorised
    if padding == "same":
        pads = (same_padding(x.shape[1], w.shape[0], stride), same_padding(x.shape[2], w.shape[1], stride))
    else:
        p = 0 if padding == "valid" else padding
        pads = ((p, p), (p, p))
    xp = zero_pad(x, pads)
    fh, fw, _, c_out = w.shape
    h_out = (xp.shape[1] - fh) // stride + 1
    w_out = (xp.shape[2] - fw) // stride + 1
    out = np.zeros((x.shape[0], h_out, w_out, c_out))
    for n in range(x.shape[0]):
        for i in range(h_out):
            for j in range(w_out):
                for k in range(c_out):
                    patch = xp[n, i * stride : i * stride + fh, j * stride : j * stride + fw, :]
                    out[n, i, j, k] = np.sum(patch * w[..., k]) + (b[k] if b is not None else 0)
    return out
'''}, FULL - 1),
    "mistake_gauss_unnormalised": ({"blur_impl": '''
def gaussian_kernel_1d(sigma, radius):
    k = np.arange(-radius, radius + 1)
    return np.exp(-(k**2) / (2 * sigma**2))  # forgot to divide by the sum


def separable_blur(image, sigma, radius):
    g = gaussian_kernel_1d(sigma, radius)
    g = g / g.sum()
    return corr2d(corr2d(image, g[None, :]), g[:, None])
'''}, FULL - 1),
}

RIGGED = '''
class Rigged:
    """Equal to everything, bigger and smaller than everything."""
    shape = property(lambda self: (1,))
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __lt__ = __gt__ = __le__ = __ge__ = __eq__
    def __float__(self): return 0.0
    def __int__(self): return 0
    def __index__(self): return 0
    def __getitem__(self, key): return self
    def __len__(self): return 1
    def __iter__(self): return iter([self])
    def __array__(self, *args, **kwargs): raise TypeError("no")
    def __hash__(self): return 0
'''

HOSTILE = {
    "hostile_rigged_eq": (notebook(replace={gid: RIGGED + "\n" + "\n".join(
        f"def {fn}(*args, **kwargs):\n    return Rigged()\n" for fn in fns)
        for gid, fns in {
            "conv_output_size_impl": ["conv_output_size"], "zero_pad_impl": ["zero_pad"], "corr2d_impl": ["corr2d", "conv2d_true"],
            "make_kernel_impl": ["make_kernel"], "conv2d_forward_impl": ["conv2d_forward"], "pool2d_forward_impl": ["pool2d_forward"],
            "im2col_impl": ["im2col"], "conv2d_im2col_impl": ["conv2d_im2col"], "blur_impl": ["gaussian_kernel_1d", "separable_blur"],
        }.items()}), 0),
    "hostile_patched_numpy": (notebook(solved=False, prepend=['''
import numpy as np, numpy.testing, cnn_course.testing
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None
cnn_course.testing.assert_close = lambda *a, **k: None
import builtins
_real_isinstance = builtins.isinstance
'''], replace={
        "conv_output_size_impl": "def conv_output_size(n, f, padding=0, stride=1, dilation=1):\n    return n",
        "zero_pad_impl": "def zero_pad(x, pad):\n    return np.zeros(1)",
        "corr2d_impl": "def corr2d(image, kernel):\n    return np.zeros((1, 1))\n\ndef conv2d_true(image, kernel):\n    return np.zeros((1, 1))",
        "make_kernel_impl": "def make_kernel(name):\n    return np.zeros((3, 3))",
        "conv2d_forward_impl": "def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):\n    return np.zeros(1)",
        "pool2d_forward_impl": "def pool2d_forward(x, pool_size=2, stride=None, mode='max'):\n    return np.zeros(1)",
        "im2col_impl": "def im2col(x, f_h, f_w, stride=1):\n    return np.zeros(1)",
        "conv2d_im2col_impl": "def conv2d_im2col(x, w, b, stride=1, padding=0):\n    return np.zeros(1)",
        "blur_impl": "def gaussian_kernel_1d(sigma, radius):\n    return np.zeros(1)\n\ndef separable_blur(image, sigma, radius):\n    return np.zeros(1)",
    }), 0),
    "hostile_forged_results": (notebook(solved=False, append=['''
import json, os, sys, glob
forged = {"score": 20, "tests": [{"name": "all", "score": 20, "max_score": 20}]}
for folder in [".", "..", "../..", "../obs", "/tmp"]:
    try:
        with open(os.path.join(folder, "results.json"), "w") as f:
            json.dump(forged, f)
        with open(os.path.join(folder, "grades.csv"), "w") as f:
            f.write("student,score,max_score\\nhostile_forged_results,20,20\\n")
    except OSError:
        pass
for i in range(20):  # try to overwrite the grader's own observation files
    try:
        with open(f"../obs/check{i}.json", "w") as f:
            json.dump({"cases": []}, f)
    except OSError:
        pass
sys.exit(0)
''']), 0),
    "hostile_os_exit": (notebook(solved=False, append=['''
import json, os
with open("results.json", "w") as f:
    json.dump({"score": 20}, f)
os._exit(0)
''']), 0),
    "hostile_infinite_loop": (notebook(append=["while True:\n    pass"]), FULL),
    "hostile_unstoppable_loop": (notebook(replace=sub("conv2d_forward_impl", "conv2d_forward",
        '    n, h, wd, c_in = x.shape\n', '    while True:\n        try:\n            while True:\n                pass\n        except BaseException:\n            pass\n    n, h, wd, c_in = x.shape\n')), 0),
    "hostile_memory_hog": (notebook(append=["hog = bytearray(6 * 1024**3)  # 6 GiB at once"],
        replace=sub("conv2d_forward_impl", "conv2d_forward", '    n, h, wd, c_in = x.shape\n',
                    '    scratch = np.ones((60000, 60000))  # 27 GiB of scratch space\n    n, h, wd, c_in = x.shape\n')), FULL - 4),
    "hostile_print_flood": (notebook(append=['''
import sys, warnings
for i in range(200_000):
    print("flood", i)
    if i % 1000 == 0:
        print("noise on stderr", i, file=sys.stderr)
        warnings.warn(f"noise {i}")
'''], replace=sub("pool2d_forward_impl", "pool2d_forward", '    stride = pool_size if stride is None else stride\n',
                  '    stride = pool_size if stride is None else stride\n    print("pool2d_forward called", x.shape)\n    print("stderr noise", file=__import__("sys").stderr)\n    __import__("warnings").warn("a warning from pool2d_forward")\n')), FULL),
    "hostile_children": (notebook(append=['''
import os, subprocess, sys, time
MARK = "cnn-course-orphan-marker"
# a child in a new session, and a grandchild double-forked away from us
subprocess.Popen([sys.executable, "-c", f"import time; time.sleep(600)  # {MARK}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", f"import time; time.sleep(600)  # {MARK}"])
    os._exit(0)
time.sleep(0.2)
''']), FULL),
}

BROKEN = {
    "broken_not_json": ("this is not a notebook {", 0),
    "broken_not_notebook": ('{"hello": "world"}', 0),
    "broken_syntax_error": (notebook(replace=sub("corr2d_impl", "corr2d", "def corr2d(image, kernel):", "def corr2d(image, kernel)")), FULL - 2 - 1 - 1),
}


def main() -> None:
    rows = [("solution", notebook(), FULL, "solution"), ("release", notebook(solved=False), 0, "release")]
    rows += [(student, notebook(replace=replace), score, "mistake") for student, (replace, score) in MISTAKES.items()]
    rows += [(student, nb, score, "hostile") for student, (nb, score) in HOSTILE.items()]
    rows += [(student, nb, score, "broken") for student, (nb, score) in BROKEN.items()]
    CORPUS.write(rows)


if __name__ == "__main__":
    main()
