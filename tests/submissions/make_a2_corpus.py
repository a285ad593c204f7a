"""Regenerate the a2_keras_cnn sample submissions from the current release.

``python tests/submissions/make_a2_corpus.py`` writes
``tests/submissions/a2_keras_cnn/submitted/<student>/a2_keras_cnn/a2_keras_cnn.ipynb``
and ``expected.csv``: the solution, the untouched release, the common mistakes
(each redefines one function the way a student gets it wrong), a few hostile
notebooks and a broken one.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import Corpus  # noqa: E402

AID = "a2_keras_cnn"
FULL = 25
CORPUS = Corpus(AID)
notebook, redefine = CORPUS.notebook, CORPUS.redefine

CNN_BLOCKS = '''
def build_cnn(input_shape=(32, 32, 3), num_classes=10):
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (32, 64):
        for _ in range(2):
            x = keras.layers.Conv2D(filters, 3, padding="same")(x)
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D(pool_size=2)(x)
        x = keras.layers.Dropout(0.25)(x)
    HEAD
    return keras.Model(inputs, outputs)
'''


def cnn(head: str, body_edit: tuple[str, str] | None = None) -> str:
    src = CNN_BLOCKS.replace("    HEAD", head.strip("\n"))
    if body_edit:
        assert body_edit[0] in src
        src = src.replace(*body_edit)
    return src


MISTAKES = {
    # student id: (solution cells replaced, expected score)
    "mistake_conv_no_bias": (redefine("conv_param_count_impl", '''
def conv_param_count(kernel_size, c_in, filters, use_bias=True):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return kh * kw * c_in * filters  # the bias is forgotten
'''), FULL - 2 - 2),  # the solution's predict_param_count calls conv_param_count
    "mistake_bn_all_trainable": (redefine("batchnorm_param_count_impl", '''
def batchnorm_param_count(channels):
    return 4 * channels, 0  # gamma, beta, moving mean and variance, all "trainable"
'''), FULL - 2),
    "mistake_rf_ignores_stride": (redefine("receptive_field_impl", '''
def receptive_field(layers):
    r = 1
    for kernel_size, stride, dilation in layers:
        r += (kernel_size - 1) * dilation  # the stride never widens later layers' steps
    return r
'''), FULL - 2),
    "mistake_pool_ceil": (redefine("predict_shapes_impl", '''
import math as _math


def predict_shapes(input_shape, spec):
    h, w, c = input_shape
    shapes = []
    for layer in spec:
        kind = layer[0]
        if kind == "conv":
            _, filters, k, s, padding, d = layer
            if padding == "same":
                h, w = _math.ceil(h / s), _math.ceil(w / s)
            else:
                h, w = (h - d * (k - 1) - 1) // s + 1, (w - d * (k - 1) - 1) // s + 1
            c = filters
            shape = (h, w, c)
        elif kind == "pool":
            _, p, s = layer
            h, w = _math.ceil((h - p) / s) + 1, _math.ceil((w - p) / s) + 1  # ceil, not floor
            shape = (h, w, c)
        elif kind == "flatten":
            shape = (h * w * c,)
        elif kind == "gap":
            shape = (c,)
        elif kind == "dense":
            shape = (layer[1],)
        shapes.append(shape)
    return shapes
'''), FULL - 3 - 2),  # predict_param_count calls predict_shapes
    "mistake_spec_ignores_padding": (redefine("build_from_spec_impl", '''
_build_from_spec_right = build_from_spec


def build_from_spec(input_shape, spec):
    # "same" and "valid" look alike, so every convolution is built with the default padding
    plain = [("conv", *layer[1:4], "valid", layer[5]) if layer[0] == "conv" else layer for layer in spec]
    return _build_from_spec_right(input_shape, plain)
'''), FULL - 3),
    "mistake_lenet_max_pool": (redefine("build_lenet_impl", '''
def build_lenet(input_shape=(32, 32, 1), num_classes=10):
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(6, 5, activation="tanh"),
        keras.layers.MaxPooling2D(pool_size=2),
        keras.layers.Conv2D(16, 5, activation="tanh"),
        keras.layers.MaxPooling2D(pool_size=2),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation="tanh"),
        keras.layers.Dense(84, activation="tanh"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])
'''), FULL - 3),
    "mistake_lenet_no_softmax": (redefine("build_lenet_impl", '''
def build_lenet(input_shape=(32, 32, 1), num_classes=10):
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(6, 5, activation="tanh"),
        keras.layers.AveragePooling2D(pool_size=2),
        keras.layers.Conv2D(16, 5, activation="tanh"),
        keras.layers.AveragePooling2D(pool_size=2),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation="tanh"),
        keras.layers.Dense(84, activation="tanh"),
        keras.layers.Dense(num_classes),  # logits: the softmax is missing
    ])
'''), FULL - 3),
    "mistake_cnn_over_budget": (redefine("build_cnn_impl", cnn('''
    x = keras.layers.Flatten()(x)  # 8 x 8 x 64 = 4,096 features into a wide dense layer
    x = keras.layers.Dense(256, activation="relu")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
''')), FULL - 5),
    "mistake_cnn_no_batchnorm": (redefine("build_cnn_impl", cnn('''
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
''', ("            x = keras.layers.BatchNormalization()(x)\n", ""))), FULL - 5),
    "mistake_cnn_cannot_learn": (redefine("build_cnn_impl", cnn('''
    x = keras.layers.GlobalAveragePooling2D()(inputs)  # inputs, not x: only the mean colour is left
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dropout(0.25)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
''')), FULL - 3),
}

HOSTILE = {
    # Patch Keras and NumPy so that anything checked in the notebook's process looks right.
    "hostile_patched_keras": (notebook(solved=False, prepend=['''
import keras
import numpy as np

keras.Model.count_params = lambda self: 61_706
keras.Model.__call__ = lambda self, *args, **kwargs: np.full((2, 10), 0.1)
keras.layers.Layer.count_params = lambda self: 0
np.allclose = lambda *args, **kwargs: True
'''], replace={
        "conv_param_count_impl": "def conv_param_count(kernel_size, c_in, filters, use_bias=True):\n    return 0",
        "build_lenet_impl": "def build_lenet(input_shape=(32, 32, 1), num_classes=10):\n    return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(num_classes, activation='softmax')])",
    }), 0),
    # No address-space cap for TensorFlow, but RLIMIT_DATA: the allocation fails in its cell.
    "hostile_memory_hog": (notebook(append=["hog = bytearray(6 * 1024**3)  # 6 GiB, every page touched"]), FULL),
}

BROKEN = {
    # build_lenet renamed: its check says so, every other check is graded.
    "broken_missing_function": (notebook(replace={"build_lenet_impl": CORPUS.code["build_lenet_impl"].replace(
        "def build_lenet(", "def build_LeNet(")}), FULL - 3),
}


def main() -> None:
    rows = [("solution", notebook(), FULL, "solution"), ("release", notebook(solved=False), 0, "release")]
    for student, (replace, score) in MISTAKES.items():
        rows.append((student, notebook(replace=replace), score, "mistake"))
    rows += [(student, nb, score, "hostile") for student, (nb, score) in HOSTILE.items()]
    rows += [(student, nb, score, "broken") for student, (nb, score) in BROKEN.items()]
    CORPUS.write(rows)


if __name__ == "__main__":
    main()
