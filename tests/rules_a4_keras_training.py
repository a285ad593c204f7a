"""Versions of the a4_keras_training solution that break one rule each (tests/test_visible_rules.py).

Each source redefines one function using ``_orig`` (the solution's); ``PRELUDE`` runs first.
"""

from __future__ import annotations

PRELUDE = """
class _AlwaysOn(keras.layers.Layer):  # changes the images in both modes
    def call(self, x):
        return x + 0.01
"""

AS_TENSOR = """
def {fn}(*args, **kwargs):
    return tf.constant(_orig(*args, **kwargs))
"""

BREAKERS: dict[tuple[str, str], str] = {
    ("step_decay", "returns a float"): AS_TENSOR.format(fn="step_decay"),
    ("exponential_decay", "returns a float"): AS_TENSOR.format(fn="exponential_decay"),
    ("make_callbacks", "returns a list of keras.callbacks.Callback"): """
def make_callbacks(patience=3, factor=0.5, min_lr=1e-5):
    return _orig(patience, factor, min_lr)[0]  # the callback itself, not a list
""",
    ("make_callbacks", "reduces on val_loss, not loss"): """
def make_callbacks(patience=3, factor=0.5, min_lr=1e-5):
    return [keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=factor, patience=patience, min_lr=min_lr)]
""",
    ("make_augmenter", "keeps shape and dtype"): """
def make_augmenter(seed=None):
    return keras.Sequential([_orig(seed), keras.layers.Resizing(28, 28)])
""",
    ("make_augmenter", "identity with training=False"): """
def make_augmenter(seed=None):
    return keras.Sequential([_orig(seed), _AlwaysOn()])
""",
    ("make_augmenter", "varies with training=True"): """
def make_augmenter(seed=None):
    return keras.Sequential([keras.layers.Identity()])
""",
    ("make_augmenter", "the same seed gives the same stream"): """
def make_augmenter(seed=None):
    return _orig(None)  # the seed is dropped
""",
    ("balanced_class_weights", "returns a dict keyed by the int class labels"): """
def balanced_class_weights(y):
    return {str(c): w for c, w in _orig(y).items()}
""",
    ("mask_iou", "returns a float"): """
def mask_iou(pred, target, threshold=0.5):
    return np.array(_orig(pred, target, threshold))  # a 0-d array
""",
    ("mask_iou", "both masks empty gives 1.0"): """
def mask_iou(pred, target, threshold=0.5):
    a, b = np.asarray(pred) > threshold, np.asarray(target) > threshold
    return 0.0 if not (a | b).any() else _orig(pred, target, threshold)
""",
    ("soft_iou_loss", "returns one scalar"): """
def soft_iou_loss(y_true, y_pred):
    return keras.ops.stack([_orig(y_true[i : i + 1], y_pred[i : i + 1]) for i in range(y_pred.shape[0])])
""",
    ("soft_iou_loss", "differentiable: a finite gradient reaches y_pred"): """
def soft_iou_loss(y_true, y_pred):
    return _orig(y_true, keras.ops.cast(y_pred > 0.5, "float32"))
""",
    ("edge_aware_loss", "returns one scalar"): """
def edge_aware_loss(y_true, y_pred, weight=1.0):
    return keras.ops.stack([_orig(y_true[i : i + 1], y_pred[i : i + 1], weight) for i in range(y_pred.shape[0])])
""",
    ("edge_aware_loss", "finite gradients at zero difference and for a flat prediction"): """
def edge_aware_loss(y_true, y_pred, weight=1.0):
    y_true, y_pred = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
    magnitude = lambda x: tf.sqrt(tf.reduce_sum(tf.image.sobel_edges(x) ** 2, axis=-1))  # NaN gradient at 0
    mse = tf.reduce_mean(tf.square(y_true - y_pred))
    return mse + weight * tf.reduce_mean(tf.square(magnitude(y_true) - magnitude(y_pred)))
""",
    ("build_transfer_model", "softmax output of shape (None, num_classes)"): """
def build_transfer_model(base, num_classes, dropout=0.2):
    model = _orig(base, num_classes, dropout)
    model.layers[-1].activation = keras.activations.linear
    return model
""",
    ("build_transfer_model", "only the head is trainable"): """
def build_transfer_model(base, num_classes, dropout=0.2):
    model = _orig(base, num_classes, dropout)
    base.trainable = True
    return model
""",
    ("build_transfer_model", "does not call the base with training=True"): """
def build_transfer_model(base, num_classes, dropout=0.2):
    base.trainable = False
    inputs = keras.Input(base.input.shape[1:])
    x = keras.layers.GlobalAveragePooling2D()(base(inputs, training=True))
    outputs = keras.layers.Dense(num_classes, activation="softmax")(keras.layers.Dropout(dropout)(x))
    return keras.Model(inputs, outputs)
""",
    ("build_transfer_model", "honours dropout"): """
def build_transfer_model(base, num_classes, dropout=0.2):
    return _orig(base, num_classes, 0.2)
""",
    ("fine_tune", "batch-norm layers stay frozen"): """
def fine_tune(model, base, n_layers, lr):
    model = _orig(model, base, n_layers, lr)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = True
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss=model.loss, metrics=["accuracy"])
    return model
""",
    ("fine_tune", "the optimizer's learning rate is lr"): """
def fine_tune(model, base, n_layers, lr):
    return _orig(model, base, n_layers, 1e-3)
""",
    ("fine_tune", "keeps the loss"): """
def fine_tune(model, base, n_layers, lr):
    model = _orig(model, base, n_layers, lr)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="categorical_crossentropy")
    return model
""",
}

# Checks that train a network: run only when no other check of the function fails on the rule.
SLOW = {"transfer_learns"}
