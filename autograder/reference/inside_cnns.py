"""Reference for a5_inside_cnns: style losses, input gradients, FGSM and the shortcut fix.

The losses are written twice: in NumPy float64 (``*_np``, the values the grader
compares with) and in TensorFlow (used by the tests to check that the two
agree). Everything that needs a gradient with respect to the input image
(saliency, class visualisation, Deep Dream, FGSM) uses ``tf.GradientTape``, as
the notebook asks students to. The wrong variants (Gram normalised or
transposed, the 1/2 or the 4 C^2 (HW)^2 missing, squared total variation,
post-softmax scores, descent instead of ascent, no clip, no sign, ...) are used
only to name a mistake in the feedback.

Only the verifying side imports this module; submissions cannot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# --- losses in NumPy (float64) -----------------------------------------------------------


def gram_np(features: np.ndarray, variant: str = "") -> np.ndarray:
    """``(B, H, W, C)`` -> ``(B, C, C)``: ``G_ij = sum_k F_ik F_jk`` over the H*W positions.

    ``variant`` gives a known mistake: ``"normalised_hw"`` (divided by H*W),
    ``"normalised_hwc"`` (by H*W*C), ``"transposed"`` (the ``(B, HW, HW)`` matrix
    ``F F^T`` over positions), ``"scrambled"`` (reshaped to ``(B, C, HW)`` without
    moving the channel axis first).
    """
    f = np.asarray(features, dtype=np.float64)
    b, h, w, c = f.shape
    flat = f.reshape(b, h * w, c)  # (B, HW, C): one row per position
    if variant == "scrambled":
        wrong = f.reshape(
            b, c, h * w
        )  # the memory order is NHWC: this mixes positions and channels
        return wrong @ wrong.transpose(0, 2, 1)
    if variant == "transposed":
        return flat @ flat.transpose(0, 2, 1)  # (B, HW, HW)
    g = flat.transpose(0, 2, 1) @ flat  # (B, C, C)
    if variant == "normalised_hw":
        return g / (h * w)
    if variant == "normalised_hwc":
        return g / (h * w * c)
    return g


def content_loss_np(content: np.ndarray, generated: np.ndarray, half: bool = True) -> float:
    """``1/2 sum (F - P)^2`` (Gatys et al.); ``half=False``: the 1/2 forgotten."""
    d = np.asarray(generated, np.float64) - np.asarray(content, np.float64)
    return float((0.5 if half else 1.0) * np.sum(d * d))


def style_layer_loss_np(style: np.ndarray, generated: np.ndarray, variant: str = "") -> float:
    """``sum (G - A)^2 / (4 C^2 (HW)^2)`` per image, summed over the batch.

    ``variant``: ``"no_norm"`` (the 4 C^2 (HW)^2 forgotten), ``"no_four"`` (the 4
    forgotten), ``"mean"`` (averaged over the C^2 entries instead of normalised),
    ``"gram_normalised"`` (Gram matrices divided by H*W and the 4 C^2 (HW)^2 kept).
    """
    a = gram_np(style)
    g = gram_np(generated)
    _, h, w, c = np.shape(style)
    n, m = c, h * w
    if variant == "gram_normalised":
        a, g = a / m, g / m
    sq = float(np.sum((g - a) ** 2))
    if variant == "no_norm":
        return sq
    if variant == "no_four":
        return sq / (n**2 * m**2)
    if variant == "mean":
        return float(np.sum(np.mean((g - a) ** 2, axis=(1, 2))))
    return sq / (4.0 * n**2 * m**2)


def style_loss_np(
    style_list: Sequence[np.ndarray],
    generated_list: Sequence[np.ndarray],
    weights: Sequence[float],
    variant: str = "",
) -> float:
    """``sum_l w_l E_l`` over the layers; ``variant="unweighted"`` / ``"mean"``: known mistakes."""
    losses = [style_layer_loss_np(s, g) for s, g in zip(style_list, generated_list, strict=True)]
    if variant == "unweighted":
        return float(sum(losses))
    if variant == "mean":
        return float(np.mean([w * e for w, e in zip(weights, losses, strict=True)]))
    return float(sum(w * e for w, e in zip(weights, losses, strict=True)))


def total_variation_np(images: np.ndarray, squares: bool = False) -> float:
    """Sum of absolute differences of vertical and horizontal neighbours, over the batch.

    ``tf.image.total_variation`` per image, summed; ``squares=True``: squared differences.
    """
    x = np.asarray(images, np.float64)
    dv = x[:, 1:, :, :] - x[:, :-1, :, :]
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    if squares:
        return float(np.sum(dv**2) + np.sum(dh**2))
    return float(np.sum(np.abs(dv)) + np.sum(np.abs(dh)))


# --- the same losses in TensorFlow (for the tests) ---------------------------------------


def gram_tf(features):
    import tensorflow as tf

    f = tf.convert_to_tensor(features)
    b, h, w, c = f.shape
    flat = tf.reshape(f, (-1, h * w, c))  # (B, HW, C)
    return tf.matmul(flat, flat, transpose_a=True)  # (B, C, C)


def style_layer_loss_tf(style, generated):
    import tensorflow as tf

    _, h, w, c = generated.shape
    d = gram_tf(generated) - gram_tf(style)
    return tf.reduce_sum(d * d) / (4.0 * c**2 * (h * w) ** 2)


# --- input gradients ---------------------------------------------------------------------


def logits_model(model):
    """The model up to the input of its last layer: the pre-softmax scores of a model that
    ends with a separate softmax ``Activation``."""
    import keras

    return keras.Model(model.inputs[0], model.layers[-1].input)


def saliency(model, images, class_index: int, post_softmax: bool = False) -> np.ndarray:
    """``(B, H, W)``: max over channels of ``|d score / d x|``, score the pre-softmax output."""
    import tensorflow as tf

    head = model if post_softmax else logits_model(model)
    x = tf.convert_to_tensor(np.asarray(images, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(head(x, training=False)[:, class_index])  # images are independent
    g = tape.gradient(score, x)  # (B, H, W, C)
    return np.max(np.abs(g.numpy()), axis=-1)


def class_visualization_step(
    model, image, class_index: int, lr: float, l2_reg: float, variant: str = ""
) -> np.ndarray:
    """One step of gradient ascent on ``score - l2_reg * ||image||^2`` (raw gradient, no clip).

    ``variant``: ``"post_softmax"``, ``"descent"``, ``"normalised"`` (gradient divided by
    its L2 norm), ``"l2_plus"`` (the regulariser added instead of subtracted), ``"clipped"``.
    """
    import tensorflow as tf

    head = model if variant == "post_softmax" else logits_model(model)
    x = tf.convert_to_tensor(np.asarray(image, np.float32))
    sign = 1.0 if variant == "l2_plus" else -1.0
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(head(x, training=False)[:, class_index])
        objective = score + sign * l2_reg * tf.reduce_sum(x * x)
    g = tape.gradient(objective, x)
    if variant == "normalised":
        g = g / (tf.norm(g) + 1e-8)
    out = x - lr * g if variant == "descent" else x + lr * g
    if variant == "clipped":
        out = tf.clip_by_value(out, 0.0, 1.0)
    return out.numpy()


def deep_dream_step(model, image, layer_name: str, step: float, variant: str = "") -> np.ndarray:
    """One step up the mean activation of ``layer_name``: ``x + step * g / (mean|g| + 1e-8)``.

    ``variant``: ``"descent"`` (minimising), ``"raw"`` (no normalisation),
    ``"max_norm"`` (divided by max |g|), ``"clipped"`` (clipped to [0, 1]).
    """
    import keras
    import tensorflow as tf

    features = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
    x = tf.convert_to_tensor(np.asarray(image, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_mean(features(x, training=False))
    g = tape.gradient(loss, x)
    if variant == "max_norm":
        g = g / (tf.reduce_max(tf.abs(g)) + 1e-8)
    elif variant != "raw":
        g = g / (tf.reduce_mean(tf.abs(g)) + 1e-8)
    out = x - step * g if variant == "descent" else x + step * g
    if variant == "clipped":
        out = tf.clip_by_value(out, 0.0, 1.0)
    return out.numpy()


def activation_mean(model, images, layer_name: str) -> float:
    """Mean activation of ``layer_name`` on ``images`` (what Deep Dream increases)."""
    import keras

    features = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
    return float(np.mean(np.asarray(features(np.asarray(images, np.float32), training=False))))


def logits(model, images) -> np.ndarray:
    """Pre-softmax scores ``(B, classes)``, float64."""
    out = logits_model(model)(np.asarray(images, np.float32), training=False)
    return np.asarray(out, dtype=np.float64)


def ce_gradient(model, images, labels, from_logits: bool = True) -> np.ndarray:
    """Gradient of the summed sparse cross-entropy with respect to the images.

    ``from_logits=False``: Keras's loss on a copy of the probabilities (``* 1.0``, so that
    Keras cannot find the logits behind them): clipped, zero on saturated images.
    """
    import keras
    import tensorflow as tf

    x = tf.convert_to_tensor(np.asarray(images, np.float32))
    y = np.asarray(labels)
    with tf.GradientTape() as tape:
        tape.watch(x)
        if from_logits:
            z = logits_model(model)(x, training=False)
            loss = keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True)
        else:
            p = model(x, training=False) * 1.0
            loss = keras.losses.sparse_categorical_crossentropy(y, p)
        loss = tf.reduce_sum(loss)
    return tape.gradient(loss, x).numpy()


def fgsm(model, images, labels, epsilon: float, variant: str = "") -> np.ndarray:
    """``clip(x + eps * sign(grad_x CE), 0, 1)``, CE from the logits.

    ``variant``: ``"no_clip"``, ``"gradient"`` (``eps * grad`` instead of its sign),
    ``"probabilities"`` (CE from the clipped probabilities), ``"descent"`` (minus).
    """
    x = np.asarray(images, np.float32)
    g = ce_gradient(model, x, labels, from_logits=variant != "probabilities")
    direction = g if variant == "gradient" else np.sign(g)
    out = x - epsilon * direction if variant == "descent" else x + epsilon * direction
    if variant == "no_clip":
        return out.astype(np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def ce_per_image(model, images, labels) -> np.ndarray:
    """``(B,)`` sparse cross-entropy from the logits, float64."""
    z = logits(model, images)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(z)), np.asarray(labels)]


# --- shortcut learning --------------------------------------------------------------------


def accuracy(model, x, y) -> float:
    """Share of images whose largest output is their label."""
    out = np.asarray(model(np.asarray(x, np.float32), training=False))
    return float(np.mean(out.argmax(axis=1) == np.asarray(y)))


def shortcut_gap(model, aligned, swapped) -> float:
    """Accuracy on the cue-aligned set minus accuracy on the cue-swapped set; each is ``(x, y)``."""
    return accuracy(model, *aligned) - accuracy(model, *swapped)


X_TEMPLATE = np.eye(5, dtype=bool) | np.eye(5, dtype=bool)[::-1]  # (5, 5): the 9 pixels of an "x"


def has_cross(x: np.ndarray) -> np.ndarray:
    """``(N,)`` 1 where a corner holds a pencil cross (lecture 12's template match), else 0."""
    grey = np.asarray(x).mean(axis=-1)  # (N, H, W)
    size = grey.shape[1]
    starts = [0, 1, 2, 3, size - 8, size - 7, size - 6, size - 5]
    contrast = np.full(len(grey), -np.inf)
    for r in starts:
        for c in starts:
            box = grey[:, r : r + 5, c : c + 5]  # (N, 5, 5)
            contrast = np.maximum(
                contrast, box[:, ~X_TEMPLATE].mean(axis=1) - box[:, X_TEMPLATE].mean(axis=1)
            )
    return (contrast > 0.3).astype(int)


def shortcut_cnn_layers(augment: bool = True) -> list:
    """Fresh layers of lecture 12's small CNN, to apply in order: ``[Conv3x3-BN-ReLU] x 3`` with
    two max pools, global max pooling, logits, then a separate softmax ``Activation``."""
    import keras

    layers = [keras.layers.RandomFlip("horizontal_and_vertical")] if augment else []
    for k, filters in enumerate([16, 32, 32]):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.ReLU(),
        ]
        if k < 2:
            layers.append(keras.layers.MaxPooling2D())  # 32 -> 16 -> 8
    return layers + [
        keras.layers.GlobalMaxPooling2D(),  # (N, 32)
        keras.layers.Dense(2),  # (N, 2) logits
        keras.layers.Activation("softmax"),
    ]


def build_shortcut_cnn(input_shape=(32, 32, 3), augment: bool = True):
    """The CNN as a functional model (14,642 parameters), so that ``model.layers[-1].input`` is
    the logits."""
    import keras

    inputs = keras.Input(input_shape)
    h = inputs
    for layer in shortcut_cnn_layers(augment):
        h = layer(h)
    return keras.Model(inputs, h)


def train_shortcut_model(
    x,
    y,
    seed: int,
    sample_weight=None,
    epochs: int = 12,
    batch_size: int = 32,
    lr: float = 3e-3,
    model=None,
):
    """The plain way: ``model`` (default lecture 12's CNN), Adam, ``epochs`` epochs on ``(x, y)``."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_shortcut_cnn(x.shape[1:]) if model is None else model
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        steps_per_execution=-(-len(x) // batch_size),
    )
    model.fit(x, y, sample_weight=sample_weight, batch_size=batch_size, epochs=epochs, verbose=0)
    return model


def balancing_weights(y: np.ndarray, cue_seen: np.ndarray) -> np.ndarray:
    """``(N,)`` sample weights giving each (class, cue) group the same total weight N / 4."""
    groups = 2 * np.asarray(y) + np.asarray(cue_seen)
    counts = np.bincount(groups, minlength=4)
    return (len(y) / 4 / np.maximum(counts, 1))[groups].astype("float32")


def corner_mask(inputs, corner: int = 8):
    """``inputs`` with the four ``corner`` x ``corner`` corners set to 0, from Keras's own layers
    (so that the model loads in safe mode): the union of the middle rows and the middle columns,
    each cropped and padded back with zeros, joined by a maximum (the images are >= 0)."""
    import keras

    band = ((0, 0), (corner, corner))
    rows = keras.layers.ZeroPadding2D(band)(keras.layers.Cropping2D(band)(inputs))
    band = ((corner, corner), (0, 0))
    cols = keras.layers.ZeroPadding2D(band)(keras.layers.Cropping2D(band)(inputs))
    return keras.layers.Maximum()([rows, cols])


def train_without_shortcut(x, y, seed: int, epochs: int = 12):
    """The reference fix: mask the corners, where the cross always is, inside the model."""
    import keras

    x = np.asarray(x, np.float32)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(x.shape[1:])
    h = corner_mask(inputs)
    for layer in shortcut_cnn_layers():  # flat: the softmax stays the last layer
        h = layer(h)
    model = keras.Model(inputs, h)
    return train_shortcut_model(x, np.asarray(y), seed, epochs=epochs, model=model)
