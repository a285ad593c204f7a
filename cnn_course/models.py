"""Models shared by the lectures and assignments: the shipped pretrained base and ImageNet models.

``pretrained_base()`` is the course's offline stand-in for ImageNet features: a
small plain VGG-style CNN whose layers are named like ``keras.applications.VGG19``
(``block1_conv1`` ... ``block3_pool``), trained by ``python -m cnn_course.pretrain``
on ``cnn_course.data.load_source_task`` (14 classes of drawn shapes and textures)
and shipped as ``cnn_course/weights/base.weights.h5``. ``imagenet_model(name)``
gives the real ImageNet model when its weights are already in Keras's cache.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "BASE_WEIGHTS",
    "IMAGENET_WEIGHTS",
    "SOURCE_ACCURACY",
    "build_base",
    "imagenet_model",
    "imagenet_weights_path",
    "pretrained_base",
]

BASE_WEIGHTS = Path(__file__).resolve().parent / "weights" / "base.weights.h5"
"""The shipped weights of ``build_base()``, written by ``python -m cnn_course.pretrain``."""

SOURCE_ACCURACY = 0.9655
"""Accuracy of the shipped base on its held-out sample of the source task (recorded by ``pretrain``)."""

FILTERS = (16, 32, 64)
"""Filters of the three blocks; each block is two 3x3 convolutions (ReLU, then batch norm) and a 2x2 max pool."""


def build_base(
    input_shape: tuple[int | None, int | None, int] = (32, 32, 3),
    num_classes: int | None = None,
    include_top: bool = True,
):
    """The course's plain VGG-style CNN (no residual connections), untrained.

    Three blocks; block ``b`` has two ``Conv2D(f, 3, padding="same",
    activation="relu", name=f"block{b}_conv{k}")`` layers, each followed by
    ``BatchNormalization(name=f"block{b}_bn{k}")``, and ends with
    ``MaxPooling2D(name=f"block{b}_pool")``, with ``f`` = 16, 32, 64 (``FILTERS``;
    kept small so that it trains in minutes on a CPU). So
    ``model.get_layer("block2_conv1").output`` is a post-ReLU feature map, as in
    VGG. With ``include_top=True``: ``GlobalAveragePooling2D(name="avg_pool")``,
    ``Dropout(0.2)``, ``Dense(num_classes, name="logits")`` (no activation: the
    pre-softmax scores) and ``Activation("softmax", name="predictions")``. With
    ``include_top=False`` the model ends at ``block3_pool``, like
    ``VGG19(include_top=False)``: ``(N, H/8, W/8, 64)``.

    Input: RGB images as float32 in [0, 1], NHWC, fed as they are (no
    preprocessing layer, no mean subtraction). ``num_classes`` defaults to
    ``len(cnn_course.data.SOURCE_CLASSES)`` (14). 73,886 parameters with the
    top (72,976 without; 448 of them are batch-norm moving statistics).
    """
    import keras

    from cnn_course.data import SOURCE_CLASSES

    num_classes = len(SOURCE_CLASSES) if num_classes is None else num_classes
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for b, f in enumerate(FILTERS, start=1):
        for k in (1, 2):
            x = keras.layers.Conv2D(
                f, 3, padding="same", activation="relu", name=f"block{b}_conv{k}"
            )(x)
            x = keras.layers.BatchNormalization(name=f"block{b}_bn{k}")(x)
        x = keras.layers.MaxPooling2D(name=f"block{b}_pool")(x)  # (N, H/2^b, W/2^b, f)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)  # (N, 64)
        x = keras.layers.Dropout(0.2, name="dropout")(x)
        x = keras.layers.Dense(num_classes, name="logits")(x)  # (N, num_classes) scores
        x = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="vgg_base" if include_top else "vgg_base_notop")


def pretrained_base(
    include_top: bool = True,
    input_shape: tuple[int | None, int | None, int] = (32, 32, 3),
    weights: str | os.PathLike | None = None,
):
    """``build_base()`` with the shipped weights (``BASE_WEIGHTS``, or the file ``weights``).

    ``include_top=False`` loads the same file into the full model and returns the
    model from its input to ``block3_pool`` (``base.get_layer("block1_conv1")``
    works, as do all the layer names of ``build_base``). The convolutional layers
    accept any image size: ``input_shape=(None, None, 3)`` or ``(128, 128, 3)``
    for photos (the top, if kept, averages over space, so it works too).

    As a frozen feature extractor, as with ``keras.applications`` models::

        base = pretrained_base(include_top=False)
        base.trainable = False
        inputs = keras.Input((32, 32, 3))
        x = base(inputs, training=False)  # BN uses its moving statistics
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(2, activation="softmax")(x)
        model = keras.Model(inputs, outputs)

    Inputs are float32 RGB in [0, 1], with no preprocessing.
    """
    import keras

    path = Path(weights) if weights is not None else BASE_WEIGHTS
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing; regenerate it with `python -m cnn_course.pretrain`"
        )
    model = build_base(input_shape=input_shape, include_top=True)
    model.load_weights(path)
    if include_top:
        return model
    return keras.Model(model.input, model.get_layer("block3_pool").output, name="vgg_base_notop")


# --------------------------------------------------------------------------- ImageNet models

IMAGENET_WEIGHTS = {
    "VGG19": "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
    "MobileNetV2": "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
}
"""File names ``keras.applications`` downloads (with the classifier top) into ``$KERAS_HOME/models``."""


def imagenet_weights_path(name: str) -> Path:
    """Where Keras caches the ImageNet weights of ``name``: ``$KERAS_HOME/models/<file>``.

    ``$KERAS_HOME`` defaults to ``~/.keras`` (``/tmp/.keras`` if the home folder is
    not writable), as in ``keras.utils.get_file``; ``<file>`` is ``IMAGENET_WEIGHTS[name]``.
    """
    if name not in IMAGENET_WEIGHTS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(IMAGENET_WEIGHTS)}")
    if "KERAS_HOME" in os.environ:
        home = Path(os.environ["KERAS_HOME"]).expanduser()
    else:  # as Keras does: ~/.keras, or /tmp/.keras when the home folder is read-only
        user = Path("~").expanduser()
        home = (user if os.access(user, os.W_OK) else Path("/tmp")) / ".keras"
    return home / "models" / IMAGENET_WEIGHTS[name]


def imagenet_model(name: str = "VGG19", substitute: str = "cnn_course.models.pretrained_base()"):
    """``keras.applications.<name>(weights="imagenet")`` if its weights are cached, else ``None``.

    ``name`` is ``"VGG19"`` or ``"MobileNetV2"`` (224x224 inputs, the full
    classifier). Never downloads: when the file is not in Keras's cache (see
    ``imagenet_weights_path``) it prints one line naming the offline substitute
    (``substitute``: by default ``cnn_course.models.pretrained_base()``; a lecture that
    falls back on something else names it) and returns ``None``. A lecture then
    uses the substitute and says which model ran. Real ImageNet models expect
    their own preprocessing (``keras.applications.<module>.preprocess_input``),
    unlike the base, which takes images in [0, 1].
    """
    path = imagenet_weights_path(name)
    if not path.is_file():
        print(
            f"{name} ImageNet weights not in the Keras cache ({path}); "
            f"using the offline substitute {substitute} instead"
        )
        return None
    import keras

    return getattr(keras.applications, name)(weights=str(path))
