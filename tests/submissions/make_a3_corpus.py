"""Regenerate the a3_backprop sample submissions from the current release.

``python tests/submissions/make_a3_corpus.py`` writes
``tests/submissions/a3_backprop/submitted/<student>/a3_backprop/a3_backprop.ipynb``
and ``expected.csv``. A student's notebook is the released one with each
solution cell filled in, as a student would: with the solution's code, or with
a known mistake (each one the grader names), or with something hostile added.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import Corpus  # noqa: E402

AID = "a3_backprop"
FULL = 21
CORPUS = Corpus(AID)
notebook, sub = CORPUS.notebook, CORPUS.sub


def subs(name: str, *edits: tuple[str, str]) -> dict[str, str]:
    """The solution cell ``name`` with several edits."""
    src = CORPUS.code[name]
    for old, new in edits:
        assert old in src, (name, old)
        src = src.replace(old, new)
    return {name: src}


MISTAKES = {
    # student id: (solution cells replaced, expected score)
    "mistake_numgrad_one_sided": (subs("numerical_gradient_impl", (
        "        x[i] = old - h\n        down = f(x)\n        x[i] = old\n        grad[i] = (up - down) / (2 * h)",
        "        x[i] = old\n        down = f(x)\n        grad[i] = (up - down) / h  # one-sided",
    )), FULL - 1),
    "mistake_conv_unflipped": (sub("conv2d_backward_impl", "conv2d_backward",
        "dxp[:, rows, cols, :] += dout @ w[u, v].T", "dxp[:, rows, cols, :] += dout @ w[fh - 1 - u, fw - 1 - v].T"), FULL - 4),
    "mistake_conv_db_mean": (sub("conv2d_backward_impl", "conv2d_backward",
        "db = dout.sum(axis=(0, 1, 2))", "db = dout.mean(axis=(0, 1, 2))"), FULL - 4),
    "mistake_conv_no_crop": (sub("conv2d_backward_impl", "conv2d_backward",
        "dx = dxp[:, top : top + h, left : left + wd, :]", "dx = dxp"), FULL - 2),
    "mistake_max_spread": (sub("pool2d_backward_impl", "pool2d_backward",
        "dx[:, rows, cols, :] += dout * first", "dx[:, rows, cols, :] += dout"), FULL - 2),
    "mistake_avg_not_divided": (sub("pool2d_backward_impl", "pool2d_backward",
        "dx[:, rows, cols, :] += dout / pool_size**2", "dx[:, rows, cols, :] += dout"), FULL - 2),
    "mistake_bn_unbiased": (sub("batchnorm_forward_impl", "batchnorm_forward",
        "mean, var = x.mean(axis=axes), x.var(axis=axes)", "mean, var = x.mean(axis=axes), x.var(axis=axes, ddof=1)"), FULL - 2),
    "mistake_bn_momentum_swapped": (subs("batchnorm_forward_impl",
        ("momentum * moving_mean + (1 - momentum) * mean", "(1 - momentum) * moving_mean + momentum * mean"),
        ("momentum * moving_var + (1 - momentum) * var", "(1 - momentum) * moving_var + momentum * var"),
    ), FULL - 2),
    "mistake_bn_update_at_inference": (sub("batchnorm_forward_impl", "batchnorm_forward",
        "        mean, var = moving_mean, moving_var\n",
        "        mean, var = moving_mean, moving_var\n"
        "        moving_mean = momentum * moving_mean + (1 - momentum) * x.mean(axis=axes)\n"
        "        moving_var = momentum * moving_var + (1 - momentum) * x.var(axis=axes)\n"), FULL - 2),
    "mistake_bn_no_mean_terms": (sub("batchnorm_backward_impl", "batchnorm_backward",
        "dx = gamma * inv_std / m * (m * dy - dbeta - xhat * dgamma)", "dx = gamma * inv_std * dy"), FULL - 2),
    "mistake_dropout_not_rescaled": (sub("dropout_impl", "dropout_forward",
        "return x * mask / (1 - rate), mask", "return x * mask, mask"), FULL - 1),
    "mistake_dropout_keep_prob": (subs("dropout_impl",
        ("mask = rng.random(x.shape) >= rate", "mask = rng.random(x.shape) < rate  # rate read as the keep probability"),
        ("return x * mask / (1 - rate), mask", "return x * mask / rate, mask"),
    ), FULL - 1),
    "mistake_dropout_backward_not_rescaled": (sub("dropout_impl", "dropout_backward",
        "return dy * mask / (1 - rate)", "return dy * mask"), FULL - 1),
    "mistake_ce_sum": (subs("softmax_cross_entropy_impl",
        ("loss = -log_probs[np.arange(n), y].mean()", "loss = -log_probs[np.arange(n), y].sum()"),
        ("return loss, dlogits / n", "return loss, dlogits"),
    ), FULL - 1),
    "mistake_rmsprop_eps_outside": (sub("rmsprop_impl", "rmsprop_step",
        "w - lr * g / np.sqrt(avg_sq + epsilon)", "w - lr * g / (np.sqrt(avg_sq) + epsilon)"), FULL - 1),
    "mistake_adam_no_bias_correction": (sub("adam_impl", "adam_step",
        "alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)", "alpha = lr"), FULL - 2),
    "mistake_adam_cs231n": ({"adam_impl": '''
def adam_step(w, g, m, v, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """One step of Adam as CS231n writes it: epsilon added to sqrt of the corrected v."""
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g**2
    m_hat = m / (1 - beta_1**t)
    v_hat = v / (1 - beta_2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + epsilon), m, v
'''}, FULL - 2),
    "mistake_cnn_ignores_input": (sub("cnn_impl", "predict_numpy_cnn",
        "    logits, _ = cnn_forward(params, x)\n", "    logits, _ = cnn_forward(params, np.zeros_like(x))\n"), FULL - 3),
}

IMPL_FUNCTIONS = {
    "numerical_gradient_impl": ["numerical_gradient"],
    "conv2d_backward_impl": ["conv2d_backward"],
    "pool2d_backward_impl": ["pool2d_backward"],
    "batchnorm_forward_impl": ["batchnorm_forward"],
    "batchnorm_backward_impl": ["batchnorm_backward"],
    "dropout_impl": ["dropout_forward", "dropout_backward"],
    "softmax_cross_entropy_impl": ["softmax_cross_entropy"],
    "sgd_impl": ["sgd_momentum_step"],
    "rmsprop_impl": ["rmsprop_step"],
    "adam_impl": ["adam_step"],
    "cnn_impl": ["train_numpy_cnn", "predict_numpy_cnn"],
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

ZEROS = "(np.zeros(1), np.zeros(1), np.zeros(1))"

HOSTILE = {
    "hostile_rigged_eq": (notebook(replace={gid: RIGGED + "\n" + "\n".join(
        f"def {fn}(*args, **kwargs):\n    return Rigged()\n" for fn in fns)
        for gid, fns in IMPL_FUNCTIONS.items()}), 0),
    "hostile_patched_numpy": (notebook(solved=False, prepend=['''
import numpy as np, numpy.testing, cnn_course.testing
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isfinite = lambda *a, **k: np.True_
np.testing.assert_allclose = lambda *a, **k: None
cnn_course.testing.assert_close = lambda *a, **k: None
cnn_course.testing.rel_error = lambda *a, **k: 0.0
'''], replace={gid: "\n".join(f"def {fn}(*args, **kwargs):\n    return {ZEROS}\n" for fn in fns)
                   for gid, fns in IMPL_FUNCTIONS.items()}), 0),
    "hostile_forged_results": (notebook(solved=False, append=['''
import json, os, sys
forged = {"score": 21, "tests": [{"name": "all", "score": 21, "max_score": 21}]}
for folder in [".", "..", "../..", "../obs", "/tmp"]:
    try:
        with open(os.path.join(folder, "results.json"), "w") as f:
            json.dump(forged, f)
    except OSError:
        pass
sys.exit(0)
''']), 0),
    "hostile_os_exit": (notebook(solved=False, append=['''
import json, os
with open("results.json", "w") as f:
    json.dump({"score": 21}, f)
os._exit(0)
''']), 0),
    "hostile_infinite_loop": (notebook(append=["while True:\n    pass"]), FULL),
    "hostile_unstoppable_loop": (notebook(replace=sub("softmax_cross_entropy_impl", "softmax_cross_entropy",
        "    n = logits.shape[0]\n", "    while True:\n        try:\n            while True:\n                pass\n        except BaseException:\n            pass\n    n = logits.shape[0]\n")), 0),
    "hostile_memory_hog": (notebook(append=["hog = bytearray(6 * 1024**3)  # 6 GiB at once"],
        replace=sub("batchnorm_backward_impl", "batchnorm_backward", "    axes = tuple(range(x.ndim - 1))\n",
                    "    scratch = np.ones((60000, 60000))  # 27 GiB of scratch space\n    axes = tuple(range(x.ndim - 1))\n")), FULL - 2),
    "hostile_print_flood": (notebook(append=['''
import sys, warnings
for i in range(200_000):
    print("flood", i)
    if i % 1000 == 0:
        print("noise on stderr", i, file=sys.stderr)
        warnings.warn(f"noise {i}")
'''], replace=sub("cnn_impl", "train_numpy_cnn", "    return fit_numpy_cnn(x_train, y_train, epochs, seed)[0]\n",
                  "    print('training', x_train.shape)\n    print('stderr noise', file=__import__('sys').stderr)\n    return fit_numpy_cnn(x_train, y_train, epochs, seed)[0]\n")), FULL),
    "hostile_children": (notebook(append=['''
import os, subprocess, sys, time
MARK = "cnn-course-orphan-marker"
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
    "broken_syntax_error": (notebook(replace=sub("dropout_impl", "dropout_forward",
        "def dropout_forward(x, rate, training, rng):", "def dropout_forward(x, rate, training, rng)")), FULL - 2),
}


def main() -> None:
    rows = [("solution", notebook(), FULL, "solution"), ("release", notebook(solved=False), 0, "release")]
    rows += [(student, notebook(replace=replace), score, "mistake") for student, (replace, score) in MISTAKES.items()]
    rows += [(student, nb, score, "hostile") for student, (nb, score) in HOSTILE.items()]
    rows += [(student, nb, score, "broken") for student, (nb, score) in BROKEN.items()]
    CORPUS.write(rows)


if __name__ == "__main__":
    main()
