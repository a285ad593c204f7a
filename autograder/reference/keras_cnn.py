"""Reference for a2_keras_cnn: what Keras itself reports, and the known wrong variants.

Correct answers come from Keras: a layer or model is built and asked for its
parameters (``count_params``, ``trainable_weights``) and output shapes, so the
grader agrees with ``model.summary()`` by construction. The wrong variants
(bias forgotten, moving statistics counted as trainable, stride ignored,
ceil instead of floor, ...) are plain formulas, used only to name a mistake.
The plain formulas with every flag off are also a second, independent
reference: the tests check that they equal Keras on hundreds of random cases.

Only the verifying side imports this module; submissions cannot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np

Spec = Sequence[tuple]


def _keras():
    import keras

    return keras


def _pair(k) -> tuple[int, int]:
    return (int(k), int(k)) if np.ndim(k) == 0 else (int(k[0]), int(k[1]))


# --- single layers, as Keras counts them ----------------------------------------------


@cache
def keras_conv_params(kernel_size, c_in: int, filters: int, use_bias: bool = True) -> int:
    keras = _keras()
    layer = keras.layers.Conv2D(filters, _pair(kernel_size), use_bias=use_bias)
    layer.build((None, 64, 64, c_in))
    return int(layer.count_params())


@cache
def keras_dense_params(n_in: int, units: int, use_bias: bool = True) -> int:
    keras = _keras()
    layer = keras.layers.Dense(units, use_bias=use_bias)
    layer.build((None, n_in))
    return int(layer.count_params())


@cache
def keras_batchnorm_params(channels: int) -> tuple[int, int]:
    keras = _keras()
    layer = keras.layers.BatchNormalization()
    layer.build((None, 4, 4, channels))
    size = lambda ws: int(sum(math.prod(w.shape) for w in ws))  # noqa: E731
    return size(layer.trainable_weights), size(layer.non_trainable_weights)


@cache
def keras_separable_params(
    kernel_size, c_in: int, filters: int, depth_multiplier: int = 1, use_bias: bool = True
) -> int:
    keras = _keras()
    layer = keras.layers.SeparableConv2D(
        filters, _pair(kernel_size), depth_multiplier=depth_multiplier, use_bias=use_bias
    )
    layer.build((None, 64, 64, c_in))
    return int(layer.count_params())


# --- formulas (with the mistakes students make) ---------------------------------------


def conv_params(
    kernel_size, c_in: int, filters: int, use_bias: bool = True, *, forget_channels: bool = False
) -> int:
    kh, kw = _pair(kernel_size)
    depth = 1 if forget_channels else c_in
    return kh * kw * depth * filters + (filters if use_bias else 0)


def separable_params(
    kernel_size,
    c_in: int,
    filters: int,
    depth_multiplier: int = 1,
    use_bias: bool = True,
    *,
    ignore_multiplier: bool = False,
    depthwise_bias: bool = False,
) -> int:
    kh, kw = _pair(kernel_size)
    dm = 1 if ignore_multiplier else depth_multiplier
    bias = (filters if use_bias else 0) + (c_in * dm if depthwise_bias and use_bias else 0)
    return kh * kw * c_in * dm + c_in * dm * filters + bias


def receptive_field(
    layers: Sequence[tuple[int, int, int]],
    *,
    ignore_stride: bool = False,
    ignore_dilation: bool = False,
    own_stride: bool = False,
    sum_kernels: bool = False,
) -> int:
    """Side of the input region one output pixel sees: 1 + sum (k - 1) d * (product of earlier strides).

    Variants: strides ignored, dilation ignored, a layer's own stride multiplied in,
    kernel sizes simply added.
    """
    if sum_kernels:
        return sum(int(k) for k, _, _ in layers) if layers else 1
    r, jump = 1, 1
    for k, s, d in layers:
        step = jump * s if own_stride else jump
        r += (k - 1) * (1 if ignore_dilation else d) * step
        if not ignore_stride:
            jump *= s
    return r


def _conv_out(n, k, s, padding, d, *, ceil=False, ignore_padding=False, ignore_stride=False,
              ignore_dilation=False):  # fmt: skip
    s = 1 if ignore_stride else s
    d = 1 if ignore_dilation else d
    if padding == "same" and not ignore_padding:
        return -(-n // s)
    span = d * (k - 1) + 1
    if ceil:
        return -(-(n - span) // s) + 1
    return (n - span) // s + 1


def spec_shapes(
    input_shape: Sequence[int],
    spec: Spec,
    *,
    pool_ceil: bool = False,
    ignore_padding: bool = False,
    ignore_stride: bool = False,
    ignore_dilation: bool = False,
    same_keeps_size: bool = False,
) -> list[tuple[int, ...]]:
    """Output shape (no batch axis) after each layer of ``spec``, by formula."""
    shape = tuple(int(v) for v in input_shape)
    out = []
    for layer in spec:
        kind = layer[0]
        if kind == "conv":
            _, filters, k, s, padding, d = layer
            h, w, _c = shape
            if padding == "same" and same_keeps_size and not ignore_padding:
                shape = (h, w, filters)
            else:
                kw = dict(ignore_padding=ignore_padding, ignore_stride=ignore_stride,
                          ignore_dilation=ignore_dilation)  # fmt: skip
                shape = (_conv_out(h, k, s, padding, d, **kw), _conv_out(w, k, s, padding, d, **kw),
                         filters)  # fmt: skip
        elif kind == "pool":
            _, p, s = layer
            h, w, c = shape
            s = 1 if ignore_stride else s
            shape = (_conv_out(h, p, s, "valid", 1, ceil=pool_ceil),
                     _conv_out(w, p, s, "valid", 1, ceil=pool_ceil), c)  # fmt: skip
        elif kind in ("bn", "dropout"):
            pass
        elif kind == "flatten":
            shape = (math.prod(shape),)
        elif kind == "gap":
            shape = (shape[-1],)
        elif kind == "dense":
            shape = (*shape[:-1], layer[1])
        else:
            raise ValueError(f"unknown layer {kind!r}")
        out.append(shape)
    return out


def spec_param_count(
    input_shape: Sequence[int],
    spec: Spec,
    *,
    bn_trainable_only: bool = False,
    no_bias: bool = False,
    **shape_flags,
) -> int:
    """Total parameters of the model ``spec`` describes, by formula."""
    shapes = [tuple(input_shape), *spec_shapes(input_shape, spec, **shape_flags)]
    total = 0
    for before, layer in zip(shapes[:-1], spec, strict=True):
        kind = layer[0]
        if kind == "conv":
            total += conv_params(layer[2], before[-1], layer[1], use_bias=not no_bias)
        elif kind == "dense":
            total += before[-1] * layer[1] + (0 if no_bias else layer[1])
        elif kind == "bn":
            total += (2 if bn_trainable_only else 4) * before[-1]
    return total


# --- models -----------------------------------------------------------------------------


def build_spec_model(input_shape: Sequence[int], spec: Spec, *, relu: bool = True):
    """The reference ``build_from_spec``: Keras layers in order, ReLU after conv and dense."""
    keras = _keras()
    act = "relu" if relu else None
    layers = [keras.Input(tuple(input_shape))]
    for layer in spec:
        kind = layer[0]
        if kind == "conv":
            _, filters, k, s, padding, d = layer
            layers.append(
                keras.layers.Conv2D(
                    filters, k, strides=s, padding=padding, dilation_rate=d, activation=act
                )
            )
        elif kind == "pool":
            layers.append(keras.layers.MaxPooling2D(pool_size=layer[1], strides=layer[2]))
        elif kind == "bn":
            layers.append(keras.layers.BatchNormalization())
        elif kind == "dropout":
            layers.append(keras.layers.Dropout(layer[1]))
        elif kind == "flatten":
            layers.append(keras.layers.Flatten())
        elif kind == "gap":
            layers.append(keras.layers.GlobalAveragePooling2D())
        elif kind == "dense":
            layers.append(keras.layers.Dense(layer[1], activation=act))
        else:
            raise ValueError(f"unknown layer {kind!r}")
    return keras.Sequential(layers)


@cache
def _spec_model_facts(input_shape: tuple, spec: tuple) -> tuple[list[tuple], int]:
    model = build_spec_model(input_shape, spec)
    shapes = [tuple(int(v) for v in layer.output.shape[1:]) for layer in model.layers]
    return shapes, int(model.count_params())


def keras_spec_shapes(input_shape: Sequence[int], spec: Spec) -> list[tuple[int, ...]]:
    """What Keras reports as each layer's output shape (no batch axis)."""
    return list(_spec_model_facts(tuple(input_shape), _freeze(spec))[0])


def keras_spec_param_count(input_shape: Sequence[int], spec: Spec) -> int:
    """``count_params()`` of the model ``spec`` describes."""
    return _spec_model_facts(tuple(input_shape), _freeze(spec))[1]


def _freeze(spec: Spec) -> tuple:
    return tuple(tuple(layer) for layer in spec)


def build_lenet(
    input_shape: Sequence[int] = (32, 32, 1),
    num_classes: int = 10,
    *,
    pool: str = "avg",
    activation: str = "tanh",
    softmax: bool = True,
):
    """LeNet-5 of the lecture, and its usual wrong variants (max pooling, ReLU, no softmax)."""
    keras = _keras()
    pooling = keras.layers.AveragePooling2D if pool == "avg" else keras.layers.MaxPooling2D
    return keras.Sequential(
        [
            keras.Input(tuple(input_shape)),
            keras.layers.Conv2D(6, 5, activation=activation),
            pooling(pool_size=2),
            keras.layers.Conv2D(16, 5, activation=activation),
            pooling(pool_size=2),
            keras.layers.Flatten(),
            keras.layers.Dense(120, activation=activation),
            keras.layers.Dense(84, activation=activation),
            keras.layers.Dense(num_classes, activation="softmax" if softmax else None),
        ]
    )


def outputs_with_weights(model, weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """``model``'s inference output on ``x`` after setting its weights, as float64."""
    model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return np.asarray(model(x.astype(np.float32), training=False), dtype=np.float64)
