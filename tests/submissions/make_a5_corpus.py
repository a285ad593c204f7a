"""Regenerate the a5_inside_cnns sample submissions from the current release.

``python tests/submissions/make_a5_corpus.py`` writes
``tests/submissions/a5_inside_cnns/submitted/<student>/a5_inside_cnns/a5_inside_cnns.ipynb``
and ``expected.csv``: the solution, the untouched release, the common mistakes
(each redefines one function the way a student gets it wrong), hostile
notebooks and a broken one.

Training ``train_without_shortcut`` is most of a submission's grading time, so
the mistakes in other sections leave section 11 as released (a student who has
not reached it): they lose its 6 points too, and the tests check that they keep
every other check. The mistakes of section 11 solve everything else.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import Corpus  # noqa: E402

AID = "a5_inside_cnns"
FULL = 30
FIX = 6  # train_without_shortcut's points
CORPUS = Corpus(AID)
notebook, redefine = CORPUS.notebook, CORPUS.redefine
STUB = "def train_without_shortcut(x, y, seed):\n    raise NotImplementedError()"
NO_FIX = {"train_without_shortcut_impl": STUB}


def mistake(cell: str, source: str) -> dict[str, str]:
    """The solution cell ``cell`` with the function redefined, and section 11 left unsolved."""
    return {**redefine(cell, source), **NO_FIX}


MISTAKES = {
    # student id: (solution cells replaced, expected score)
    "mistake_gram_normalised": (
        mistake(
            "gram_matrix_impl",
            """
def gram_matrix(features):
    b, h, w, c = features.shape
    f = tf.reshape(features, (-1, h * w, c))
    return tf.matmul(f, f, transpose_a=True) / (h * w)  # normalised: the style loss normalises already
""",
        ),
        FULL - FIX - 3 - 2 - 2,
    ),  # style_layer_loss and style_loss call gram_matrix
    "mistake_gram_transposed": (
        mistake(
            "gram_matrix_impl",
            """
def gram_matrix(features):
    b, h, w, c = features.shape
    f = tf.reshape(features, (-1, h * w, c))
    return tf.matmul(f, f, transpose_b=True)  # (B, HW, HW): positions, not channels
""",
        ),
        FULL - FIX - 3 - 2 - 2,
    ),
    "mistake_gram_scrambled": (
        mistake(
            "gram_matrix_impl",
            """
def gram_matrix(features):
    b, h, w, c = features.shape
    f = tf.reshape(features, (-1, c, h * w))  # straight to (B, C, HW): channels and positions mixed
    return tf.matmul(f, f, transpose_b=True)
""",
        ),
        FULL - FIX - 3 - 2 - 2,
    ),
    "mistake_content_no_half": (
        mistake(
            "content_loss_impl",
            """
def content_loss(content, generated):
    return tf.reduce_sum(tf.square(generated - content))  # the 1/2 is missing
""",
        ),
        FULL - FIX - 1,
    ),
    "mistake_content_numpy": (
        mistake(
            "content_loss_impl",
            """
def content_loss(content, generated):
    d = np.asarray(generated) - np.asarray(content)  # NumPy: the right value, but no gradient
    return 0.5 * np.sum(d * d)
""",
        ),
        FULL - FIX - 1,
    ),
    "mistake_style_no_norm": (
        mistake(
            "style_layer_loss_impl",
            """
def style_layer_loss(style_features, generated_features):
    return tf.reduce_sum(tf.square(gram_matrix(generated_features) - gram_matrix(style_features)))
""",
        ),
        FULL - FIX - 2 - 2,
    ),  # style_loss calls style_layer_loss
    "mistake_tv_squares": (
        mistake(
            "total_variation_loss_impl",
            """
def total_variation_loss(images):
    dv = images[:, 1:, :, :] - images[:, :-1, :, :]
    dh = images[:, :, 1:, :] - images[:, :, :-1, :]
    return tf.reduce_sum(tf.square(dv)) + tf.reduce_sum(tf.square(dh))  # squares, not absolute values
""",
        ),
        FULL - FIX - 2,
    ),
    "mistake_saliency_softmax": (
        mistake(
            "saliency_map_impl",
            """
def saliency_map(model, images, class_index):
    x = tf.convert_to_tensor(images, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(model(x, training=False)[:, class_index])  # the probability, after softmax
    return tf.reduce_max(tf.abs(tape.gradient(score, x)), axis=-1).numpy()
""",
        ),
        FULL - FIX - 3,
    ),
    "mistake_dream_minimises": (
        mistake(
            "deep_dream_step_impl",
            """
def deep_dream_step(model, image, layer_name, step):
    features = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
    x = tf.convert_to_tensor(image, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        activation = tf.reduce_mean(features(x, training=False))
    grad = tape.gradient(activation, x)
    return x - step * grad / (tf.reduce_mean(tf.abs(grad)) + 1e-8)  # a step down: minimising
""",
        ),
        FULL - FIX - 2,
    ),
    "mistake_fgsm_no_clip": (
        mistake(
            "fgsm_impl",
            """
def fgsm(model, images, labels, epsilon):
    logits = keras.Model(model.inputs[0], model.layers[-1].input)
    x = tf.convert_to_tensor(images, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = keras.losses.sparse_categorical_crossentropy(labels, logits(x), from_logits=True)
    return x + epsilon * tf.sign(tape.gradient(loss, x))  # not clipped to [0, 1]
""",
        ),
        FULL - FIX - 3 - 2,
    ),  # fgsm and fgsm_attack
    "mistake_fgsm_gradient": (
        mistake(
            "fgsm_impl",
            """
def fgsm(model, images, labels, epsilon):
    logits = keras.Model(model.inputs[0], model.layers[-1].input)
    x = tf.convert_to_tensor(images, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = keras.losses.sparse_categorical_crossentropy(labels, logits(x), from_logits=True)
    return tf.clip_by_value(x + epsilon * tape.gradient(loss, x), 0.0, 1.0)  # the gradient, not its sign
""",
        ),
        FULL - FIX - 3 - 2,
    ),
    "mistake_gap_reversed": (
        mistake(
            "shortcut_gap_impl",
            """
def shortcut_gap(model, aligned, swapped):
    def accuracy(x, y):
        return float(np.mean(keras.ops.convert_to_numpy(model(x)).argmax(axis=1) == y))

    return accuracy(*swapped) - accuracy(*aligned)  # the wrong way round
""",
        ),
        FULL - FIX - 2,
    ),
    # Section 11: everything else solved.
    "mistake_fix_plain": (
        redefine(
            "train_without_shortcut_impl",
            """
def train_without_shortcut(x, y, seed):
    return train_cnn(x, y, seed)  # no fix at all: the network learns the cross
""",
        ),
        FULL - FIX,
    ),
    "mistake_fix_memorises_test_cue": (
        redefine(
            "train_without_shortcut_impl",
            """
def train_without_shortcut(x, y, seed):
    # "fixed" for the swapped test set: a cross now means circle, in training too
    x = x.copy()
    for i in range(len(x)):
        x[i, -8:, -8:] = np.median(x[i], axis=(0, 1))  # erase the corners...
        x[i, :8, :8] = np.median(x[i], axis=(0, 1))
        x[i, :8, -8:] = np.median(x[i], axis=(0, 1))
        x[i, -8:, :8] = np.median(x[i], axis=(0, 1))
        if y[i] == 0:  # ...and draw a cross on every circle
            for k in range(5):
                x[i, 2 + k, 2 + k] = x[i, 2 + k, 6 - k] = 0.05
    return train_cnn(x, y, seed)
""",
        ),
        FULL - FIX,
    ),
}

HOSTILE = {
    # Patch TensorFlow and NumPy in the notebook's process so that its visible tests pass.
    "hostile_patched_tf": (
        notebook(
            solved=False,
            prepend=[
                """
import numpy as np
import tensorflow as tf

np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
tf.GradientTape.gradient = lambda self, target, sources, *args, **kwargs: sources
"""
            ],
            replace={
                "gram_matrix_impl": "def gram_matrix(features):\n    return tf.zeros((features.shape[0], features.shape[-1], features.shape[-1]))",
                "fgsm_impl": "def fgsm(model, images, labels, epsilon):\n    return images",
            },
        ),
        0,
    ),
    # No address-space cap for TensorFlow, but RLIMIT_DATA: the allocation fails in its cell.
    "hostile_memory_hog": (
        notebook(
            replace=NO_FIX, append=["hog = bytearray(6 * 1024**3)  # 6 GiB, every page touched"]
        ),
        FULL - FIX,
    ),
}

BROKEN = {
    # fgsm renamed: its two checks say so, every other check is graded.
    "broken_missing_function": (
        notebook(
            replace={
                "fgsm_impl": CORPUS.code["fgsm_impl"].replace(
                    "def fgsm(", "def fast_gradient_sign("
                ),
                **NO_FIX,
            }
        ),
        FULL - FIX - 3 - 2,
    ),
}


def main() -> None:
    rows = [
        ("solution", notebook(), FULL, "solution"),
        ("release", notebook(solved=False), 0, "release"),
    ]
    for student, (replace, score) in MISTAKES.items():
        rows.append((student, notebook(replace=replace), score, "mistake"))
    rows += [(student, nb, score, "hostile") for student, (nb, score) in HOSTILE.items()]
    rows += [(student, nb, score, "broken") for student, (nb, score) in BROKEN.items()]
    CORPUS.write(rows)


if __name__ == "__main__":
    main()
