"""The a2_keras_cnn reference and checks, in process: formulas against Keras, model styles."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from autograder.checks import a2_keras_cnn as a2
from autograder.core import decode, encode, load_assignment
from autograder.reference import keras_cnn as ref

ASSIGNMENT = load_assignment("a2_keras_cnn")


def _run(check_name: str, namespace: dict):
    """Observe and verify through the same encoding the fast harness uses."""
    check = ASSIGNMENT.check(check_name)
    return check.verify(decode(*encode(check.observe(namespace))))


def test_layer_formulas_equal_keras():
    """Do the plain formulas equal what Keras counts for random Conv2D, SeparableConv2D, Dense?"""
    rng = np.random.default_rng(0)
    for _ in range(40):
        k = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        c, f, dm = int(rng.integers(1, 50)), int(rng.integers(1, 50)), int(rng.integers(1, 4))
        bias = bool(rng.random() < 0.5)
        assert ref.conv_params(k, c, f, bias) == ref.keras_conv_params(k, c, f, bias)
        assert ref.separable_params(k, c, f, dm, bias) == ref.keras_separable_params(
            k, c, f, dm, bias
        )
        assert c * f + (f if bias else 0) == ref.keras_dense_params(c, f, bias)
    assert ref.keras_batchnorm_params(7) == (14, 14)


def test_spec_formulas_equal_keras_on_random_specs():
    """Do the shape and parameter formulas equal Keras's on 40 random specs?"""
    rng = np.random.default_rng(1)
    for _ in range(40):
        shape, spec = a2._random_spec(rng)
        assert ref.spec_shapes(shape, spec) == ref.keras_spec_shapes(shape, spec), spec
        assert ref.spec_param_count(shape, spec) == ref.keras_spec_param_count(shape, spec), spec


def test_hidden_specs_separate_the_mistakes():
    """Does every shape mistake the feedback names change the answer on some hidden spec?"""
    variants = a2._shape_variants()
    cases = a2._spec_cases()
    for explanation, flags in variants:
        assert any(ref.spec_shapes(*c.args, **flags) != ref.spec_shapes(*c.args) for c in cases), (
            explanation
        )
    kinds = {layer[0] for c in cases for layer in c.args[1]}
    assert kinds == {"conv", "pool", "bn", "dropout", "flatten", "gap", "dense"}


def _measured_receptive_field(layers: list[tuple[int, int, int]]) -> int:
    """Measure it with Keras: positive kernels, inputs that are 1 from row t on; the first
    output pixel is non-zero while row t is still inside what it sees."""
    n = ref.receptive_field(layers) + 8 * math.prod(s for _, s, _ in layers)
    model = keras.Sequential(
        [keras.Input((n, 1, 1))]
        + [
            keras.layers.Conv2D(
                1,
                (k, 1),
                strides=(s, 1),
                dilation_rate=(d, 1),
                use_bias=False,
                kernel_initializer="ones",
            )
            for k, s, d in layers
        ]
    )
    steps = (np.arange(n)[None, :] >= np.arange(n)[:, None]).astype("float32")  # row t: 1 from t on
    first = np.asarray(model(steps[:, :, None, None]))[:, 0, 0, 0]
    return int(np.max(np.nonzero(first > 0)[0])) + 1


def test_receptive_field_formula_matches_a_measurement():
    """Does 1 + sum (k - 1) d (product of earlier strides) equal the field Keras's layers see?"""
    for case in a2._rf_cases()[1:]:
        layers = case.args[0]
        assert ref.receptive_field(layers) == _measured_receptive_field(layers), layers


def _lenet_sequential(input_shape=(32, 32, 1), num_classes=10):
    return ref.build_lenet(input_shape, num_classes)


def _lenet_functional(input_shape=(32, 32, 1), num_classes=10):
    x = inputs = keras.Input(input_shape)
    for filters in (6, 16):
        x = keras.layers.Conv2D(filters, 5)(x)
        x = keras.layers.Activation("tanh")(x)
        x = keras.layers.AveragePooling2D(pool_size=2)(x)
    x = keras.layers.Flatten()(x)
    for units in (120, 84):
        x = keras.layers.Dense(units, activation="tanh")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


class _LeNet(keras.Model):
    def __init__(self, num_classes):
        super().__init__()
        self.c1 = keras.layers.Conv2D(6, 5, activation="tanh")
        self.p1 = keras.layers.AveragePooling2D(pool_size=2)
        self.c2 = keras.layers.Conv2D(16, 5, activation="tanh")
        self.p2 = keras.layers.AveragePooling2D(pool_size=2)
        self.flat = keras.layers.Flatten()
        self.d1 = keras.layers.Dense(120, activation="tanh")
        self.d2 = keras.layers.Dense(84, activation="tanh")
        self.out = keras.layers.Dense(num_classes)

    def call(self, x):
        x = self.p2(self.c2(self.p1(self.c1(x))))
        return keras.ops.softmax(self.out(self.d2(self.d1(self.flat(x)))))


def _lenet_subclassed(input_shape=(32, 32, 1), num_classes=10):
    return _LeNet(num_classes)


@pytest.mark.parametrize("build", [_lenet_sequential, _lenet_functional, _lenet_subclassed])
def test_any_correct_lenet_style_passes(build):
    """Do Sequential, functional (separate Activation layers) and subclassed LeNets all pass?"""
    result = _run("build_lenet", {"build_lenet": build})
    assert result.passed, result.message


@pytest.mark.parametrize(
    "flags,phrase",
    [
        (dict(pool="max"), "max pooling"),
        (dict(activation="relu"), "ReLU where LeNet uses tanh"),
        (dict(softmax=False), "not probabilities"),
    ],
)
def test_lenet_mistakes_are_named(flags, phrase):
    """Does a LeNet with max pooling, ReLU or no softmax lose the points, with the reason?"""
    result = _run(
        "build_lenet",
        {
            "build_lenet": lambda input_shape=(32, 32, 1), num_classes=10: ref.build_lenet(
                input_shape, num_classes, **flags
            )
        },
    )
    assert not result.passed and phrase in result.message, result.message


def test_build_from_spec_without_relu_is_named():
    """Does a build_from_spec that forgets the ReLUs fail with that reason?"""
    result = _run(
        "build_from_spec",
        {"build_from_spec": lambda s, spec: ref.build_spec_model(s, spec, relu=False)},
    )
    assert not result.passed and "ReLU" in result.message, result.message


def test_build_from_spec_returning_no_model():
    """Does a build_from_spec that returns a list get a clear message and no points?"""
    result = _run("build_from_spec", {"build_from_spec": lambda s, spec: [s, spec]})
    assert not result.passed and "return a keras.Model" in result.message


@pytest.mark.parametrize("name", [c.name for c in ASSIGNMENT.checks])
def test_forged_observations_earn_nothing(name):
    """Does every check give zero, not a crash, for observations of the wrong form?"""
    check = ASSIGNMENT.check(name)
    for forged in ({"cases": "all correct"}, {"cases": [{}]}, {"design": 1}, [], {"probs": 1}):
        result = check.verify(forged)
        assert result.points == 0, (name, forged)


def test_recalibration_sets_moving_statistics_to_the_data():
    """Does re-estimating batch norm give the moving mean and variance of the data, and restore momentum?"""
    model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])
    x = np.random.default_rng(0).normal(3.0, 2.0, (256, 4)).astype("float32")
    assert a2.recalibrate_batchnorm(model, x) == 1
    bn = model.layers[0]
    np.testing.assert_allclose(np.asarray(bn.moving_mean), x.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), x.var(axis=0), rtol=1e-3)
    assert bn.momentum == 0.99


@pytest.mark.parametrize("seed", [0, 2**62 - 1])
def test_learning_split_is_balanced_and_disjoint(seed):
    """Are the train and test splits the grader draws balanced over the four classes and
    different images?"""
    x_train, y_train, x_test, y_test = a2.learn_data(seed)
    assert x_train.shape == (a2.LEARN_TRAIN, *a2.LEARN_INPUT)
    assert x_test.shape == (a2.LEARN_TEST, *a2.LEARN_INPUT)
    assert np.bincount(y_test).min() >= a2.LEARN_TEST // 4 - 40
    assert not np.any(np.all(x_train[:50, None] == x_test[None, :50], axis=(2, 3, 4)))


def test_learning_splits_differ_between_runs():
    """Does each grading run draw other images (so no run's labels can be learnt in advance)?"""
    given_a, kept_a = a2._learn_fresh(np.random.default_rng(1))
    given_b, kept_b = a2._learn_fresh(np.random.default_rng(2))
    assert not np.array_equal(given_a["x_train"], given_b["x_train"])
    assert "y_test" not in given_a and "y_test" in kept_a
