"""Regenerate the a0_neurons sample submissions from the current release.

``python tests/submissions/make_a0_corpus.py`` writes
``tests/submissions/a0_neurons/submitted/<student>/a0_neurons/a0_neurons.ipynb``
and ``expected.csv``. A student's notebook is the released one with each
solution cell filled in, as a student would: with the solution's code, or with
a known mistake, or with something hostile added.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import Corpus  # noqa: E402

AID = "a0_neurons"
FULL = 22
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
    "mistake_step_at_zero": (
        sub("neuron_impl", "neuron", "(z > 0).astype(float)", "(z >= 0).astype(float)"),
        FULL - 2,
    ),
    "mistake_and_is_or": (
        sub(
            "gate_weights_impl",
            "gate_weights",
            '"and": ([1.0, 1.0], -1.5)',
            '"and": ([1.0, 1.0], -0.5)',
        ),
        FULL - 2,
    ),
    "mistake_product_first": (
        sub(
            "xor_features_impl",
            "xor_features",
            "np.c_[x, x[:, 0] * x[:, 1]]",
            "np.c_[x[:, 0] * x[:, 1], x]",
        ),
        FULL - 1,
    ),
    # a "single-neuron XOR": no x1*x2 weight, and one hidden neuron (OR alone)
    "mistake_xor_single_neuron": (
        {
            "xor_features_impl": CORPUS.code["xor_features_impl"].replace(
                "np.array([1.0, 1.0, -2.0]), -0.5", "np.array([1.0, 1.0, 0.0]), -0.5"
            ),
            "xor_two_layer_impl": """
def xor_two_layer():
    w1 = np.array([[1.0], [1.0]])  # one hidden neuron: OR
    b1 = np.array([-0.5])
    w2 = np.array([1.0])
    return w1, b1, w2, -0.5
""",
        },
        FULL - 1 - 2,
    ),
    "mistake_sigmoid_grad_is_sigmoid": (
        sub(
            "activation_impl",
            "activation_grad",
            "        return s * (1 - s)\n",
            "        return s\n",
        ),
        FULL - 2,
    ),
    "mistake_tanh_grad_one_minus_tanh": (
        sub(
            "activation_impl",
            "activation_grad",
            "return 1 - np.tanh(z) ** 2",
            "return 1 - np.tanh(z)",
        ),
        FULL - 2,
    ),
    "mistake_relu_grad_negatives": (
        sub(
            "activation_impl",
            "activation_grad",
            "return (z > 0).astype(float)",
            "return np.ones_like(z)",
        ),
        FULL - 2,
    ),
    "mistake_leaky_keras_default": (
        sub("activation_impl", "ALPHA_LEAKY", "ALPHA_LEAKY = 0.01", "ALPHA_LEAKY = 0.2"),
        FULL - 2 - 2,
    ),
    "mistake_softmax_unstable": (
        subs(
            "softmax_impl",
            (
                "    z = z - np.max(z, axis=1, keepdims=True)  # the largest logit of each row becomes 0\n",
                "",
            ),
        ),
        FULL - 2,
    ),
    "mistake_ce_no_clip": (
        sub(
            "softmax_impl",
            "cross_entropy",
            "p = np.clip(probs[np.arange(n), y], 1e-7, 1.0)",
            "p = probs[np.arange(n), y]",
        ),
        FULL - 1,
    ),
    "mistake_backprop_no_mean": (
        sub(
            "mlp_impl",
            "mlp_backward",
            "    dz2 /= n  # (N, K): dL/d(logits) of the mean loss\n",
            "",
        ),
        FULL - 3,
    ),
    # the transposed gradients also break train_xor (W1 - lr * dW1.T does not broadcast)
    "mistake_backprop_transposed": (
        sub(
            "mlp_impl",
            "mlp_backward",
            '{"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": u.T @ dz2,',
            '{"W1": dz1.T @ x, "b1": dz1.sum(axis=0), "W2": dz2.T @ u,',
        ),
        FULL - 3 - 3,
    ),
    # without tanh's derivative the training from seed 0 stalls at 50%: train_xor fails too
    "mistake_backprop_no_tanh_grad": (
        sub("mlp_impl", "mlp_backward", "dz1 = du * (1 - u**2)  # times tanh'", "dz1 = du"),
        FULL - 3 - 3,
    ),
    "mistake_train_fixed_lr": (
        sub(
            "train_xor_impl", "train_xor", "params[k] - lr * grads[k]", "params[k] - 0.5 * grads[k]"
        ),
        FULL - 3,
    ),
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
    def __len__(self): return 4
    def __iter__(self): return iter([self, self, self, self])
    def __contains__(self, key): return True
    def keys(self): return ["W1", "b1", "W2", "b2"]
    def __array__(self, *args, **kwargs): raise TypeError("no")
    def __hash__(self): return 0
'''

FUNCTIONS = {
    "neuron_impl": ["neuron"],
    "gate_weights_impl": ["gate_weights"],
    "xor_features_impl": ["xor_features", "xor_weights_one_neuron"],
    "xor_two_layer_impl": ["xor_two_layer"],
    "activation_impl": ["activation", "activation_grad"],
    "softmax_impl": ["softmax", "cross_entropy"],
    "mlp_impl": ["mlp_forward", "mlp_backward"],
    "train_xor_impl": ["train_xor"],
}

HOSTILE = {
    "hostile_rigged_eq": (
        notebook(
            replace={
                gid: RIGGED
                + "\n"
                + "\n".join(f"def {fn}(*args, **kwargs):\n    return Rigged()\n" for fn in fns)
                for gid, fns in FUNCTIONS.items()
            }
        ),
        0,
    ),
    "hostile_patched_numpy": (
        notebook(
            solved=False,
            prepend=[
                """
import numpy as np, numpy.testing, cnn_course.testing
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isfinite = lambda *a, **k: np.True_
np.testing.assert_allclose = lambda *a, **k: None
cnn_course.testing.assert_close = lambda *a, **k: None
"""
            ],
            replace={
                gid: "\n".join(
                    f"def {fn}(*args, **kwargs):\n    return np.zeros(1)\n" for fn in fns
                )
                for gid, fns in FUNCTIONS.items()
            },
        ),
        0,
    ),
    "hostile_forged_results": (
        notebook(
            solved=False,
            append=[
                """
import json, os, sys
forged = {"score": 22, "tests": [{"name": "all", "score": 22, "max_score": 22}]}
for folder in [".", "..", "../..", "../obs", "/tmp"]:
    try:
        with open(os.path.join(folder, "results.json"), "w") as f:
            json.dump(forged, f)
        with open(os.path.join(folder, "grades.csv"), "w") as f:
            f.write("student,score,max_score\\nhostile_forged_results,22,22\\n")
    except OSError:
        pass
sys.exit(0)
"""
            ],
        ),
        0,
    ),
    "hostile_os_exit": (
        notebook(
            solved=False,
            append=[
                """
import json, os
with open("results.json", "w") as f:
    json.dump({"score": 22}, f)
os._exit(0)
"""
            ],
        ),
        0,
    ),
    "hostile_infinite_loop": (notebook(append=["while True:\n    pass"]), FULL),
    "hostile_unstoppable_loop": (
        notebook(
            replace=sub(
                "mlp_impl",
                "mlp_forward",
                '    u = np.tanh(x @ params["W1"] + params["b1"])  # (N, H) hidden layer\n',
                '    while True:\n        try:\n            while True:\n                pass\n        except BaseException:\n            pass\n    u = np.tanh(x @ params["W1"] + params["b1"])\n',
            )
        ),
        0,
    ),
    "hostile_memory_hog": (
        notebook(
            append=["hog = bytearray(6 * 1024**3)  # 6 GiB at once"],
            replace=sub(
                "softmax_impl",
                "cross_entropy",
                "    n = len(y)\n",
                "    scratch = np.ones((60000, 60000))  # 27 GiB of scratch space\n    n = len(y)\n",
            ),
        ),
        FULL - 1,
    ),
    "hostile_print_flood": (
        notebook(
            append=[
                """
import sys, warnings
for i in range(200_000):
    print("flood", i)
    if i % 1000 == 0:
        print("noise on stderr", i, file=sys.stderr)
        warnings.warn(f"noise {i}")
"""
            ],
            replace=sub(
                "neuron_impl",
                "neuron",
                "    z = x @ w + b  # (N,)\n",
                '    z = x @ w + b\n    print("neuron called", x.shape)\n    print("stderr noise", file=__import__("sys").stderr)\n    __import__("warnings").warn("a warning from neuron")\n',
            ),
        ),
        FULL,
    ),
    "hostile_children": (
        notebook(
            append=[
                """
import os, subprocess, sys, time
MARK = "cnn-course-orphan-marker"
subprocess.Popen([sys.executable, "-c", f"import time; time.sleep(600)  # {MARK}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", f"import time; time.sleep(600)  # {MARK}"])
    os._exit(0)
time.sleep(0.2)
"""
            ]
        ),
        FULL,
    ),
    # trained parameters hard-coded: the same for every seed, whatever the lr
    "hostile_hardcoded_params": (
        notebook(
            replace=sub(
                "train_xor_impl",
                "train_xor",
                "    init = np.random.default_rng(seed)\n",
                "    init = np.random.default_rng(0)  # the seed is ignored\n    epochs = 1000 if epochs else 0\n    lr = 0.5\n",
            )
        ),
        FULL - 3,
    ),
}

BROKEN = {
    "broken_not_json": ("this is not a notebook {", 0),
    "broken_not_notebook": ('{"hello": "world"}', 0),
    # the syntax error in the cell of softmax and cross_entropy: mlp_forward, mlp_backward and
    # train_xor call softmax, so they fail too
    "broken_syntax_error": (
        notebook(replace=sub("softmax_impl", "softmax", "def softmax(z):", "def softmax(z)")),
        FULL - 2 - 1 - 1 - 3 - 3,
    ),
}


def main() -> None:
    rows = [
        ("solution", notebook(), FULL, "solution"),
        ("release", notebook(solved=False), 0, "release"),
    ]
    rows += [
        (student, notebook(replace=replace), score, "mistake")
        for student, (replace, score) in MISTAKES.items()
    ]
    rows += [(student, nb, score, "hostile") for student, (nb, score) in HOSTILE.items()]
    rows += [(student, nb, score, "broken") for student, (nb, score) in BROKEN.items()]
    CORPUS.write(rows)


if __name__ == "__main__":
    main()
