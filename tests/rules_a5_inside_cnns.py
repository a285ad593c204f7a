"""Versions of the a5_inside_cnns solution that break one rule each (tests/test_visible_rules.py).

``BREAKERS[(function, rule)]`` is source that redefines ``function`` using ``_orig`` (the
solution's version) so that exactly that rule of ``RULES`` is broken; the visible test marked
``# rule: <rule>`` must fail on it, and so must a hidden check. ``PRELUDE`` runs first.
The breakers of ``train_without_shortcut`` return small untrained models, so that no breaker
trains a network.
"""

from __future__ import annotations

from autograder.checks.a5_inside_cnns import DIFFERENTIABLE, SCALAR, SHORTCUT_PARAMS

PRELUDE = """
import keras
import numpy as np
import tensorflow as tf
"""

# No SLOW: the one graded cell of train_without_shortcut is its only visible test (its quick run
# trains on 64 images), and the breakers below fail the hidden check without any training.

NOT_DIFFERENTIABLE = """
def {name}(a, b):
    return tf.constant(keras.ops.convert_to_numpy(_orig(a, b)))  # through NumPy: no gradient
"""

ONE_PER_IMAGE = """
def {name}(*args):
    return tf.reshape(_orig(*args), (1,))  # shape (1,), not ()
"""

BREAKERS: dict[tuple[str, str], str] = {
    ("gram_matrix", "returns shape (B, C, C)"): """
def gram_matrix(features):
    return tf.reshape(_orig(features), (features.shape[0], -1))  # (B, C * C)
""",
    ("content_loss", SCALAR): ONE_PER_IMAGE.format(name="content_loss"),
    ("content_loss", DIFFERENTIABLE): NOT_DIFFERENTIABLE.format(name="content_loss"),
    ("style_layer_loss", SCALAR): ONE_PER_IMAGE.format(name="style_layer_loss"),
    ("style_layer_loss", DIFFERENTIABLE): NOT_DIFFERENTIABLE.format(name="style_layer_loss"),
    ("style_loss", SCALAR): ONE_PER_IMAGE.format(name="style_loss"),
    ("total_variation_loss", SCALAR): ONE_PER_IMAGE.format(name="total_variation_loss"),
    ("saliency_map", "returns a NumPy array of shape (B, H, W)"): """
def saliency_map(model, images, class_index):
    return tf.constant(_orig(model, images, class_index))  # a tensor, not a NumPy array
""",
    ("saliency_map", "non-negative"): """
def saliency_map(model, images, class_index):
    return -_orig(model, images, class_index)
""",
    ("class_visualization_step", "returns the new image, same shape as the input"): """
def class_visualization_step(model, image, class_index, lr, l2_reg):
    return _orig(model, image, class_index, lr, l2_reg)[0]  # (H, W, C): the batch axis dropped
""",
    ("class_visualization_step", "does not clip"): """
def class_visualization_step(model, image, class_index, lr, l2_reg):
    return tf.clip_by_value(_orig(model, image, class_index, lr, l2_reg), 0.0, 1.0)
""",
    ("deep_dream_step", "returns the new image, same shape as the input"): """
def deep_dream_step(model, image, layer_name, step):
    return _orig(model, image, layer_name, step)[0]
""",
    ("deep_dream_step", "does not clip"): """
def deep_dream_step(model, image, layer_name, step):
    return tf.clip_by_value(_orig(model, image, layer_name, step), 0.0, 1.0)
""",
    ("fgsm", "stays within epsilon of the input"): """
def fgsm(model, images, labels, epsilon):
    return _orig(model, images, labels, 2 * epsilon)  # twice as far
""",
    ("fgsm", "values in [0, 1]"): """
def fgsm(model, images, labels, epsilon):
    logits = keras.Model(model.inputs[0], model.layers[-1].input)
    x = tf.convert_to_tensor(images, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = keras.losses.sparse_categorical_crossentropy(labels, logits(x), from_logits=True)
    return x + epsilon * tf.sign(tape.gradient(loss, x))  # not clipped
""",
    ("shortcut_gap", "returns a float"): """
def shortcut_gap(model, aligned, swapped):
    return [_orig(model, aligned, swapped)]
""",
    ("train_without_shortcut", "returns a keras.Model with outputs of shape (N, 2)"): """
def train_without_shortcut(x, y, seed):
    return keras.Sequential([keras.Input(x.shape[1:]), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
""",
    (
        "train_without_shortcut",
        "a model Keras can save and reload in safe mode (Sequential or functional, no subclass, no Lambda)",
    ): """
def train_without_shortcut(x, y, seed):
    return keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Lambda(lambda t: t[:, 8:24, 8:24]),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")])
""",
    ("train_without_shortcut", f"at most {SHORTCUT_PARAMS:,} parameters"): """
def train_without_shortcut(x, y, seed):
    return keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                             keras.layers.Dense(2, activation="softmax")])  # 196,802 parameters
""",
}
