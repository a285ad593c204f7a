"""Lecture 09's rules for freezing and fine-tuning, checked against Keras on small models.

Each rule the lecture states is asserted here on the shipped base at 16x16 (a few tiny fits, no notebook),
with a second case showing that the check can fail:

- ``fit`` leaves a frozen base bit for bit unchanged, weights and batch-norm moving statistics alike
  (an unfrozen base moves);
- ``base.trainable = True`` makes every layer inside trainable again (Keras 3);
- unfreezing only the top k weighted non-batch-norm layers leaves exactly their (9 C_in + 1) C_out
  parameters trainable (counting batch-norm layers as weighted layers gives other numbers);
- a batch-norm layer with ``trainable=False`` runs in inference mode inside ``fit`` (one SGD step equals the
  step computed by hand with the moving statistics, not the batch statistics), while ``fit`` overrides an
  explicit ``training=False`` written in a functional model;
- the moving mean after k training steps: 0.99^k mu_source + (1 - 0.99^k) mu_new.
"""

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from cnn_course.models import pretrained_base  # noqa: E402

SIZE = 16  # the base's convolutions take any image size; 16x16 keeps every fit tiny
CLASSES = 3
HEAD = 64 * CLASSES + CLASSES  # the dense head on 64 pooled features
CONVS = [  # (name, C_in, C_out) of the base's 3x3 convolutions, bottom to top
    ("block1_conv1", 3, 16),
    ("block1_conv2", 16, 16),
    ("block2_conv1", 16, 32),
    ("block2_conv2", 32, 32),
    ("block3_conv1", 32, 64),
    ("block3_conv2", 64, 64),
]
EPSILON = 1e-3  # BatchNormalization's default


def conv_params(c_in: int, c_out: int, f: int = 3) -> int:
    """(F * F * C_in + 1) * C_out, lecture 02's count."""
    return (f * f * c_in + 1) * c_out


def fresh_base():
    """The shipped base without its top, at 16x16: (N, 16, 16, 3) -> (N, 2, 2, 64)."""
    return pretrained_base(include_top=False, input_shape=(SIZE, SIZE, 3))


def transfer_model(base, dropout: float = 0.0):
    """The lecture's recipe: input -> base(x, training=False) -> global average pooling -> dense softmax."""
    inputs = keras.Input((SIZE, SIZE, 3))
    h = base(inputs, training=False)
    h = keras.layers.GlobalAveragePooling2D()(h)
    if dropout:
        h = keras.layers.Dropout(dropout)(h)
    return keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax", name="head")(h))


def data(n: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (n, SIZE, SIZE, 3)).astype("float32")
    return x, rng.integers(0, CLASSES, n)


def fit(model, x, y, epochs: int = 2, learning_rate: float = 1e-2):
    keras.utils.set_random_seed(0)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        run_eagerly=True,  # a few steps: cheaper than tracing a training graph
    )
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0)


def snapshot(layer_or_model) -> dict[str, np.ndarray]:
    return {w.path: np.array(w.numpy()) for w in layer_or_model.weights}


def changed(before: dict, after: dict) -> set[str]:
    return {p for p in before if not np.array_equal(before[p], after[p])}


def trainable_count(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# ---------------------------------------------------------------- freezing


def test_fit_leaves_a_frozen_base_unchanged():
    """After fit, are all 36 arrays of a frozen base (kernels, biases, gamma, beta, moving mean and variance)
    bit for bit what they were, while the head has moved?"""
    base = fresh_base()
    base.trainable = False
    model = transfer_model(base, dropout=0.2)
    before, head_before = snapshot(base), snapshot(model.get_layer("head"))
    assert trainable_count(model) == HEAD
    fit(model, *data())
    assert len(before) == 36 and sum("moving" in p for p in before) == 12
    assert not changed(before, snapshot(base))
    assert changed(head_before, snapshot(model.get_layer("head"))) == set(head_before)


def test_an_unfrozen_base_moves_in_fit():
    """Can the check fail: with base.trainable = True, does fit change the kernels and, although the model
    says base(x, training=False), the moving statistics too (Keras 3's fit passes training=True to every layer)?"""
    base = fresh_base()
    base.trainable = True
    model = transfer_model(base)
    before = snapshot(base)
    fit(model, *data(), epochs=1)
    moved = changed(before, snapshot(base))
    assert {f"{name}/kernel" for name, _, _ in CONVS} <= moved
    assert {p for p in before if "moving_mean" in p} <= moved


def test_fit_overrides_training_false_but_not_trainable_false():
    """In Keras 3, does base(x, training=False) leave batch norm in training mode inside fit when its layers are
    trainable (moving statistics move), and does trainable=False on the batch-norm layers alone keep them still?"""
    x, y = data()
    for bn_trainable in (True, False):
        base = fresh_base()
        base.trainable = True
        for layer in base.layers:
            is_bn = isinstance(layer, keras.layers.BatchNormalization)
            layer.trainable = layer.name == "block3_conv2" or (is_bn and bn_trainable)
        model = transfer_model(base)
        before = snapshot(base)
        fit(model, x, y, epochs=1)
        moving = {p for p in before if "moving" in p}
        moved = changed(before, snapshot(base))
        assert "block3_conv2/kernel" in moved
        assert (moving <= moved) if bn_trainable else not (moving & moved)
    # direct calls: no training argument keeps the written training=False; training=True overrides it
    base = fresh_base()
    wrapper = transfer_model(base)
    inference = np.asarray(wrapper(x[:8], training=False))
    np.testing.assert_allclose(np.asarray(wrapper(x[:8])), inference, atol=1e-6)
    assert not np.allclose(np.asarray(wrapper(x[:8], training=True)), inference, atol=1e-3)


def test_base_trainable_true_unfreezes_every_layer_inside():
    """Does base.trainable = True make every layer inside trainable again, batch norm included, leaving all
    72,976 - 448 = 72,528 parameters of the base trainable (and 0 when frozen)?"""
    base = fresh_base()
    assert base.count_params() == 72_976
    base.trainable = False
    assert trainable_count(base) == 0 and not any(layer.trainable for layer in base.layers)
    base.get_layer("block3_conv2").trainable = True
    assert trainable_count(base) == 0  # a layer inside a frozen model stays frozen
    base.trainable = True
    assert all(layer.trainable for layer in base.layers)
    non_trainable = sum(int(np.prod(w.shape)) for w in base.non_trainable_weights)
    assert non_trainable == 2 * (16 + 16 + 32 + 32 + 64 + 64) == 448
    assert trainable_count(base) == 72_976 - 448 == 72_528


# ---------------------------------------------------------------- fine-tuning the top layers


def unfreeze_top(base, k: int, skip_bn: bool = True) -> None:
    """Unfreeze the top ``k`` layers that have weights (skipping batch norm when ``skip_bn``); freeze the rest."""
    base.trainable = True
    weighted = [
        layer
        for layer in base.layers
        if layer.weights and not (skip_bn and isinstance(layer, keras.layers.BatchNormalization))
    ]
    top = {id(layer) for layer in weighted[len(weighted) - k :]} if k else set()
    for layer in base.layers:
        layer.trainable = id(layer) in top


@pytest.fixture(scope="module")
def counted():
    """One base and its transfer model for the counting tests: they only set ``trainable`` flags."""
    base = fresh_base()
    return base, transfer_model(base)


@pytest.mark.parametrize("k", range(len(CONVS) + 1))
def test_unfreezing_the_top_k_weighted_non_bn_layers(k, counted):
    """Does unfreezing the top k weighted non-BN layers leave exactly the hand count trainable, the sum of
    (9 C_in + 1) C_out over the top k convolutions plus the head, with every batch-norm layer frozen?"""
    base, model = counted
    unfreeze_top(base, k)
    expected = sum(conv_params(c_in, c_out) for _, c_in, c_out in CONVS[len(CONVS) - k :]) + HEAD
    assert trainable_count(model) == expected
    assert not any(
        layer.trainable
        for layer in base.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert [layer.name for layer in base.layers if layer.trainable] == [
        name for name, _, _ in CONVS[len(CONVS) - k :]
    ]
    if k:  # the wrong variant, batch norm counted as a weighted layer, unfreezes something else
        unfreeze_top(base, k, skip_bn=False)
        assert trainable_count(model) != expected


def test_the_lectures_counts():
    """Do the lecture's numbers match Keras: block 3's convolutions 18,496 + 36,928, with a 6-class head
    (390) 55,814 trainable, and 72,918 after base.trainable = True?"""
    assert conv_params(32, 64) == 18_496 and conv_params(64, 64) == 36_928
    base = pretrained_base(include_top=False)  # 32x32, as in the lecture
    base.trainable = False
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    model = keras.Model(inputs, keras.layers.Dense(6, activation="softmax")(h))
    assert trainable_count(model) == 64 * 6 + 6 == 390
    base.trainable = True
    assert trainable_count(model) == 72_918
    unfreeze_top(base, 2)
    assert trainable_count(model) == 55_814
    unfreeze_top(base, 2, skip_bn=False)  # block3_bn2 and block3_conv2 instead
    assert trainable_count(model) == 2 * 64 + 36_928 + 390


# ---------------------------------------------------------------- batch norm inside fit


def _bn_then_dense(bn_trainable: bool):
    """x (4 features) -> BatchNormalization with set statistics -> Dense(1); returns (model, bn, dense, values)."""
    inputs = keras.Input((4,))
    bn = keras.layers.BatchNormalization()
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, dense(bn(inputs)))
    values = {
        "gamma": np.array([1.5, 0.5, 2.0, 1.0], "float32"),
        "beta": np.array([0.1, -0.2, 0.3, 0.0], "float32"),
        "mean": np.array([2.0, -0.5, 0.0, 1.0], "float32"),
        "var": np.array([3.0, 0.2, 0.05, 1.0], "float32"),
        "w": np.array([[0.5], [-1.0], [0.25], [2.0]], "float32"),
        "b": np.array([0.1], "float32"),
    }
    bn.set_weights([values[k] for k in ("gamma", "beta", "mean", "var")])
    dense.set_weights([values["w"], values["b"]])
    bn.trainable = bn_trainable
    return model, bn, dense, values


def _sgd_step_by_hand(h, y, w, b, learning_rate):
    """One SGD step of Dense(1) on the mean squared error: d/dw mean((h w + b - y)^2) = 2 h^T (h w + b - y) / N."""
    residual = h @ w + b - y  # (N, 1)
    return w - learning_rate * 2 * h.T @ residual / len(h), b - learning_rate * 2 * residual.mean(
        axis=0
    )


@pytest.mark.parametrize("bn_trainable", [False, True])
def test_batch_norm_mode_inside_fit(bn_trainable):
    """Inside fit, does a BN layer with trainable=False normalise with its moving statistics (the dense layer's
    SGD step equals the hand step on gamma (x - mu_moving)/sqrt(var_moving + eps) + beta, moving statistics
    unchanged), and a trainable one with the batch's (biased) statistics, its moving mean becoming
    0.99 mu_moving + 0.01 mu_batch?"""
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(16, 4)) * [2.0, 0.5, 1.0, 3.0] + [3.0, -1.0, 0.5, 2.0]).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    model, bn, dense, v = _bn_then_dense(bn_trainable)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", run_eagerly=True)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)

    x64 = x.astype("float64")
    moving = v["gamma"] * (x64 - v["mean"]) / np.sqrt(v["var"] + EPSILON) + v["beta"]
    batch_mean, batch_var = x64.mean(axis=0), x64.var(axis=0)  # biased, as Keras
    batch = v["gamma"] * (x64 - batch_mean) / np.sqrt(batch_var + EPSILON) + v["beta"]
    right, wrong = (batch, moving) if bn_trainable else (moving, batch)

    w_right, b_right = _sgd_step_by_hand(right, y, v["w"], v["b"], 0.1)
    w_wrong, _ = _sgd_step_by_hand(wrong, y, v["w"], v["b"], 0.1)
    np.testing.assert_allclose(dense.kernel.numpy(), w_right, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dense.bias.numpy(), b_right, rtol=1e-4, atol=1e-5)
    assert np.abs(w_wrong - w_right).max() > 1e-2  # the other mode gives a clearly different step

    if bn_trainable:
        np.testing.assert_allclose(
            bn.moving_mean.numpy(), 0.99 * v["mean"] + 0.01 * batch_mean, atol=1e-5
        )
        assert not np.allclose(bn.gamma.numpy(), v["gamma"])  # gamma and beta are trained too
    else:
        np.testing.assert_array_equal(bn.moving_mean.numpy(), v["mean"])
        np.testing.assert_array_equal(bn.moving_variance.numpy(), v["var"])
        np.testing.assert_array_equal(bn.gamma.numpy(), v["gamma"])


def test_moving_mean_after_k_steps():
    """After k training-mode calls on batches of mean mu_new, is the moving mean 0.99^k mu_source +
    (1 - 0.99^k) mu_new, so that half of the source mean is gone after 69 steps (2.3 epochs of 120 images
    in batches of 4)?"""
    k = math.ceil(math.log(0.5) / math.log(0.99))
    assert k == 69 and 0.99**68 > 0.5 > 0.99**69
    assert k / (120 / 4) == pytest.approx(2.3)
    mu_source, mu_new = np.array([2.0, -1.0], "float32"), np.array([-0.5, 3.0], "float32")
    bn = keras.layers.BatchNormalization()
    bn.build((None, 2))
    bn.set_weights([np.ones(2), np.zeros(2), mu_source, np.ones(2)])
    x = mu_new + np.random.default_rng(2).normal(size=(8, 2)).astype("float32")
    x = x - x.mean(axis=0) + mu_new  # a batch whose mean is exactly mu_new
    for _ in range(k):
        bn(x, training=True)
    expected = 0.99**k * mu_source + (1 - 0.99**k) * mu_new
    np.testing.assert_allclose(bn.moving_mean.numpy(), expected, atol=1e-4)
    # the wrong variant, the weights swapped (0.01 for the old value), would be at mu_new already
    assert np.abs(bn.moving_mean.numpy() - mu_new).max() > 1.0
