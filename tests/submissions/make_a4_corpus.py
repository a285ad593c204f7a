"""Regenerate the a4_keras_training sample submissions from the current release.

``python tests/submissions/make_a4_corpus.py`` writes
``tests/submissions/a4_keras_training/submitted/<student>/a4_keras_training/a4_keras_training.ipynb``
and ``expected.csv``: the solution, the untouched release, the common mistakes of the
issue (each redefines one function the way a student gets it wrong), hostile notebooks
and a broken one.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import Corpus  # noqa: E402

AID = "a4_keras_training"
FULL = 25
CORPUS = Corpus(AID)
notebook, redefine = CORPUS.notebook, CORPUS.redefine

TRANSFER = """
def build_transfer_model(base, num_classes, dropout=0.2):
    FREEZE
    inputs = keras.Input(base.input.shape[1:])
    x = base(inputs, training=TRAINING)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
"""

FINE_TUNE = """
def fine_tune(model, base, n_layers, lr):
    base.trainable = True
    weighted = [la for la in base.layers if la.weights and not isinstance(la, keras.layers.BatchNormalization)]
    chosen = weighted[len(weighted) - n_layers:]
    for layer in base.layers:
        LOOP
    model.compile(optimizer=OPTIMIZER, loss=model.loss, metrics=["accuracy"])
    return model
"""


def fine_tune(loop: str, optimizer: str = "keras.optimizers.Adam(learning_rate=lr)") -> str:
    return FINE_TUNE.replace("LOOP", loop).replace("OPTIMIZER", optimizer)


SELECT = "layer.trainable = any(layer is c for c in chosen)"

MISTAKES = {
    # student id: (solution cells replaced, expected score)
    "mistake_step_off_by_one": (
        redefine(
            "step_decay_impl",
            """
def step_decay(epoch, lr0, drop=0.5, every=10):
    return float(lr0 * drop ** math.floor((epoch + 1) / every))  # epochs counted from 1
""",
        ),
        FULL - 2,
    ),
    "mistake_callback_on_loss": (
        redefine(
            "make_callbacks_impl",
            """
def make_callbacks(patience=3, factor=0.5, min_lr=1e-5):
    return [keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=factor, patience=patience, min_lr=min_lr)]
""",
        ),
        FULL - 3,
    ),
    "mistake_augmenter_at_inference": (
        redefine(
            "make_augmenter_impl",
            '''
class AlwaysShift(keras.layers.Layer):
    """A home-made random shift that forgets the `training` argument: active at inference too."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        return x + keras.random.uniform((keras.ops.shape(x)[0], 1, 1, 1), -0.05, 0.05, seed=self.generator)


def make_augmenter(seed=None):
    return keras.Sequential([keras.layers.RandomFlip("horizontal", seed=seed), AlwaysShift(seed)])
''',
        ),
        FULL - 3,
    ),
    "mistake_class_weights_inverse_count": (
        redefine(
            "balanced_class_weights_impl",
            """
def balanced_class_weights(y):
    classes, counts = np.unique(y, return_counts=True)
    return {int(c): float(1 / k) for c, k in zip(classes, counts)}
""",
        ),
        FULL - 1,
    ),
    "mistake_iou_empty_nan": (
        redefine(
            "mask_iou_impl",
            """
def mask_iou(pred, target, threshold=0.5):
    a, b = np.asarray(pred) > threshold, np.asarray(target) > threshold
    with np.errstate(invalid="ignore"):
        return float(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())  # 0 / 0 = nan for two empty masks
""",
        ),
        FULL - 2,
    ),
    "mistake_soft_iou_threshold": (
        redefine(
            "soft_iou_loss_impl",
            """
def soft_iou_loss(y_true, y_pred):
    hard = keras.ops.cast(y_pred > 0.5, "float32")  # thresholded: no gradient
    inter = keras.ops.sum(y_true * hard, axis=(1, 2, 3))
    union = keras.ops.sum(y_true, axis=(1, 2, 3)) + keras.ops.sum(hard, axis=(1, 2, 3)) - inter
    return keras.ops.mean(1.0 - inter / (union + 1e-7))
""",
        ),
        FULL - 2,
    ),
    "mistake_edge_nan_gradient": (
        redefine(
            "edge_aware_loss_impl",
            """
def edge_aware_loss(y_true, y_pred, weight=1.0):
    y_true, y_pred = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
    magnitude = lambda x: tf.sqrt(tf.reduce_sum(tf.image.sobel_edges(x) ** 2, axis=-1))  # NaN gradient at 0
    mse = tf.reduce_mean(tf.square(y_true - y_pred))
    return mse + weight * tf.reduce_mean(tf.square(magnitude(y_true) - magnitude(y_pred)))
""",
        ),
        FULL - 2,
    ),
    # The whole base trains (and its batch norm on batch statistics): the base moves, and 180
    # images are too few for 73,000 parameters (held-out accuracy 0.37-0.53 on four splits).
    "mistake_base_not_frozen": (
        redefine(
            "build_transfer_model_impl",
            TRANSFER.replace("    FREEZE\n", "").replace("TRAINING", "False"),
        ),
        FULL - 6,
    ),
    "mistake_base_training_mode": (
        redefine(
            "build_transfer_model_impl",
            TRANSFER.replace("FREEZE", "base.trainable = False").replace("TRAINING", "True"),
        ),
        FULL - 3,
    ),
    "mistake_fine_tune_all_layers": (
        redefine(
            "fine_tune_impl", fine_tune("pass  # base.trainable = True has unfrozen every layer")
        ),
        FULL - 3,
    ),
    "mistake_fine_tune_bn_unfrozen": (
        redefine(
            "fine_tune_impl",
            fine_tune(SELECT + " or isinstance(layer, keras.layers.BatchNormalization)"),
        ),
        FULL - 3,
    ),
    "mistake_fine_tune_lr_not_lowered": (
        redefine("fine_tune_impl", fine_tune(SELECT, "keras.optimizers.Adam()")),
        FULL - 3,
    ),
}

HOSTILE = {
    # Patch Keras, TensorFlow and NumPy so that anything checked in the notebook's process looks right.
    "hostile_patched_keras": (
        notebook(
            solved=False,
            prepend=[
                """
import keras
import numpy as np
import tensorflow as tf

keras.Model.__call__ = lambda self, *args, **kwargs: np.full((4, 5), 0.2)
keras.Model.predict = lambda self, x, **kwargs: np.eye(6)[np.zeros(len(x), int)]
keras.Model.fit = lambda self, *args, **kwargs: None
tf.GradientTape.gradient = lambda self, *args, **kwargs: tf.zeros((1,))
np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
"""
            ],
            replace={
                "mask_iou_impl": "def mask_iou(pred, target, threshold=0.5):\n    return 1.0",
                "step_decay_impl": "def step_decay(epoch, lr0, drop=0.5, every=10):\n    return lr0",
            },
        ),
        0,
    ),
    # No address-space cap for TensorFlow, but RLIMIT_DATA: the allocation fails in its cell.
    "hostile_memory_hog": (
        notebook(append=["hog = bytearray(6 * 1024**3)  # 6 GiB, every page touched"]),
        FULL,
    ),
}

BROKEN = {
    # fine_tune renamed: its check says so, every other check is graded.
    "broken_missing_function": (
        notebook(
            replace={
                "fine_tune_impl": CORPUS.code["fine_tune_impl"].replace(
                    "def fine_tune(", "def finetune("
                )
            }
        ),
        FULL - 3,
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
