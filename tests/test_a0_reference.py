"""The a0 grader's reference is only as good as its agreement with Keras and with calculus."""

import numpy as np
import pytest

from autograder.reference import neurons as ref

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

Z = np.r_[np.linspace(-8, 8, 161), -50.0, 50.0, -1e3, 1e3, 0.0, 1e-4, -1e-4]
KERAS = {
    "sigmoid": lambda z: keras.activations.sigmoid(z),
    "tanh": lambda z: keras.activations.tanh(z),
    "relu": lambda z: keras.activations.relu(z),
    # pass the slope explicitly: Keras's leaky_relu defaults to 0.2, the course uses 0.01
    "leaky_relu": lambda z: keras.activations.leaky_relu(z, negative_slope=0.01),
    "elu": lambda z: keras.activations.elu(z, alpha=1.0),
    "softsign": lambda z: keras.activations.softsign(z),
}


@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activation_matches_keras(name):
    """Does each reference activation equal keras.activations (float64) on small, large and zero inputs?"""
    want = keras.ops.convert_to_numpy(KERAS[name](tf.constant(Z, dtype=tf.float64)))
    np.testing.assert_allclose(
        ref.activation(name, Z), want, rtol=1e-7, atol=1e-12
    )  # leaky_relu: a float32 slope


@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activation_grad_matches_keras_autodiff(name):
    """Does each reference derivative equal TensorFlow's gradient of the Keras activation, away
    from the kink at 0?"""
    z = Z[np.abs(Z) > 1e-6]
    zt = tf.constant(z, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        y = KERAS[name](zt)
    want = tape.gradient(y, zt).numpy()
    np.testing.assert_allclose(ref.activation_grad(name, z), want, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activation_grad_matches_central_differences(name):
    """Does each reference derivative equal central differences of the reference activation?"""
    z = np.random.default_rng(0).uniform(-6, 6, size=500)
    z = z[np.abs(z) > 1e-3]
    np.testing.assert_allclose(
        ref.activation_grad(name, z), ref.central_difference(name, z), atol=1e-7
    )


def test_conventions_at_zero():
    """Are the derivatives at 0 the stated conventions: ReLU 0, leaky ReLU 0.01, ELU 1, and step(0) = 0?"""
    zero = np.zeros(1)
    assert ref.activation_grad("relu", zero)[0] == 0
    assert ref.activation_grad("leaky_relu", zero)[0] == 0.01
    assert ref.activation_grad("elu", zero)[0] == 1
    assert ref.activation_grad("sigmoid", zero)[0] == 0.25
    assert ref.step(zero)[0] == 0


def test_softmax_matches_keras_and_is_stable():
    """Does the reference softmax equal keras.activations.softmax, stay finite at ±1e3 and give 1/K at 0?"""
    z = np.r_[np.random.default_rng(1).normal(size=(6, 5)) * 3, [[1e3, 0, -1e3, 5, 1e3]]]
    want = keras.ops.convert_to_numpy(keras.activations.softmax(tf.constant(z), axis=-1))
    np.testing.assert_allclose(ref.softmax(z), want, rtol=1e-9, atol=1e-12)
    assert np.all(np.isfinite(ref.softmax(np.array([[-1e3, -1e3], [1e3, -1e3]]))))
    np.testing.assert_allclose(ref.softmax(np.zeros((2, 4))), 0.25)
    assert np.isnan(ref.softmax_unstable(np.array([[1e3, 0.0]]))).any()  # the named mistake


def test_cross_entropy_matches_keras():
    """Does the reference cross-entropy equal Keras's sparse categorical cross-entropy (which
    clips at its epsilon, 1e-7), including a probability of exactly 0?"""
    rng = np.random.default_rng(2)
    probs = ref.softmax(rng.normal(size=(8, 4)) * 2)
    probs[0] = [0.0, 1.0, 0.0, 0.0]
    y = rng.integers(0, 4, size=8)
    y[0] = 0
    assert keras.config.epsilon() == ref.EPS
    loss = keras.losses.SparseCategoricalCrossentropy()
    want = float(keras.ops.convert_to_numpy(loss(y, tf.constant(probs, dtype=tf.float64))))
    assert abs(ref.cross_entropy(probs, y) - want) < 1e-6
    assert abs(ref.cross_entropy(np.full((3, 5), 0.2), np.array([0, 2, 4])) - np.log(5)) < 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_mlp_backward_matches_autodiff(seed):
    """Are the reference gradients those TensorFlow computes for the mean cross-entropy of the
    tanh-softmax network?"""
    rng = np.random.default_rng(seed)
    n, d, h, k = 7, 3, 5, 4
    x, y = rng.normal(size=(n, d)), rng.integers(0, k, size=n)
    params = {
        "W1": rng.normal(size=(d, h)),
        "b1": rng.normal(size=h),
        "W2": rng.normal(size=(h, k)),
        "b2": rng.normal(size=k),
    }
    variables = {name: tf.Variable(v) for name, v in params.items()}
    with tf.GradientTape() as tape:
        u = tf.tanh(x @ variables["W1"] + variables["b1"])
        logits = u @ variables["W2"] + variables["b2"]
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    want = tape.gradient(loss, variables)
    got = ref.mlp_backward(x, y, params)
    for name in params:
        np.testing.assert_allclose(got[name], want[name].numpy(), rtol=1e-9, atol=1e-12)
    probs, _ = ref.mlp_forward(x, params)
    assert abs(ref.cross_entropy(probs, y) - float(loss)) < 1e-9


def test_lecture_weights_compute_the_gates():
    """Do the lecture's weights (seed 003) compute AND, OR, NOT and, with x1*x2 or two layers, XOR?"""
    assert np.array_equal(ref.neuron(ref.XOR_X, [1, 1], -1.5), ref.TRUTH["and"])
    assert np.array_equal(ref.neuron(ref.XOR_X, [1, 1], -0.5), ref.TRUTH["or"])
    assert np.array_equal(ref.neuron(ref.NOT_X, [-1], 0.5), ref.NOT_TRUTH)
    features = ref.xor_features(ref.XOR_X)
    assert np.array_equal(ref.step(features @ np.array([1, 1, -2]) - 0.5), ref.TRUTH["xor"])
    w1, b1 = np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([-0.5, -1.5])
    assert np.array_equal(
        ref.step_network(ref.XOR_X, w1, b1, np.array([1.0, -1.0]), -0.5), ref.TRUTH["xor"]
    )
