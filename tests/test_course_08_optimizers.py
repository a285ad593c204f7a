"""Lecture 08's update rules, schedules, plateau timing and losses, asserted against Keras and TensorFlow.

The NumPy rules below are the ones the lecture states; each test compares one of them with the
framework on the same inputs, and a second case shows that a wrong variant would be caught.
"""

import functools

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

# ---------------------------------------------------------------- the rules, as lecture 08 writes them


def sgd_step(w, g, state, learning_rate, momentum=0.0, nesterov=False):
    """keras.optimizers.SGD: v = momentum*v - lr*g; w += v (Nesterov: w += momentum*v - lr*g)."""
    if momentum == 0:
        return w - learning_rate * g
    state["v"] = momentum * state.get("v", 0.0) - learning_rate * g
    return w + (momentum * state["v"] - learning_rate * g if nesterov else state["v"])


def rmsprop_step(w, g, state, learning_rate, rho=0.9, epsilon=1e-7):
    """keras.optimizers.RMSprop: s = rho*s + (1-rho)*g^2; w -= lr*g / sqrt(s + epsilon)."""
    state["s"] = rho * state.get("s", 0.0) + (1 - rho) * g**2
    return w - learning_rate * g / np.sqrt(state["s"] + epsilon)


def adam_step(w, g, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """keras.optimizers.Adam: corrections folded into the rate, epsilon added to the uncorrected sqrt(v)."""
    t = state["t"] = state.get("t", 0) + 1
    m, v = state.get("m", 0.0), state.get("v", 0.0)
    state["m"] = m + (1 - beta_1) * (g - m)
    state["v"] = v + (1 - beta_2) * (g**2 - v)
    alpha = learning_rate * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    return w - alpha * state["m"] / (np.sqrt(state["v"]) + epsilon)


# wrong (or merely different) variants that the tests must tell apart from Keras


def momentum_added_with_the_wrong_sign(w, g, state, learning_rate, momentum=0.9):
    state["v"] = momentum * state.get("v", 0.0) - learning_rate * g
    return w - state["v"]


def rmsprop_cs231n_step(w, g, state, learning_rate, rho=0.9, epsilon=1e-7):
    """CS231n's form: epsilon outside the square root."""
    state["s"] = rho * state.get("s", 0.0) + (1 - rho) * g**2
    return w - learning_rate * g / (np.sqrt(state["s"]) + epsilon)


def adam_paper_step(w, g, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Kingma and Ba's form: bias-corrected m and v, epsilon added to sqrt(v_hat)."""
    t = state["t"] = state.get("t", 0) + 1
    state["m"] = beta_1 * state.get("m", 0.0) + (1 - beta_1) * g
    state["v"] = beta_2 * state.get("v", 0.0) + (1 - beta_2) * g**2
    m_hat, v_hat = state["m"] / (1 - beta_1**t), state["v"] / (1 - beta_2**t)
    return w - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)


RNG = np.random.default_rng(8)
W0 = RNG.normal(size=4).astype("float32")
GRADS = RNG.normal(size=(8, 4)).astype("float32")  # the same 8 gradients for every optimiser
SMALL_GRADS = (GRADS * 1e-6).astype("float32")  # where the place of epsilon shows


def keras_path(optimizer, grads=GRADS, rates=None):
    """Weights after each step of `optimizer` on `grads`; `rates[k]` (if given) is set before step k."""
    w = keras.Variable(W0)
    path = []
    for k, g in enumerate(grads):
        if rates is not None:
            optimizer.learning_rate = rates[k]
        optimizer.apply([keras.ops.convert_to_tensor(g)], [w])
        path.append(keras.ops.convert_to_numpy(w))
    return np.array(path)


def numpy_path(step, grads=GRADS, **kwargs):
    w, state, path = W0.astype("float64"), {}, []
    for g in grads:
        w = step(w, g.astype("float64"), state, **kwargs)
        path.append(w)
    return np.array(path)


CASES = {
    "SGD": (lambda: keras.optimizers.SGD(learning_rate=0.1), sgd_step, dict(learning_rate=0.1)),
    "SGD momentum": (
        lambda: keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
        sgd_step,
        dict(learning_rate=0.1, momentum=0.9),
    ),
    "SGD Nesterov": (
        lambda: keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
        sgd_step,
        dict(learning_rate=0.1, momentum=0.9, nesterov=True),
    ),
    "RMSprop": (
        lambda: keras.optimizers.RMSprop(learning_rate=0.01),
        rmsprop_step,
        dict(learning_rate=0.01),
    ),
    "RMSprop rho 0.5": (
        lambda: keras.optimizers.RMSprop(learning_rate=0.01, rho=0.5, epsilon=1e-3),
        rmsprop_step,
        dict(learning_rate=0.01, rho=0.5, epsilon=1e-3),
    ),
    "Adam": (
        lambda: keras.optimizers.Adam(learning_rate=0.01),
        adam_step,
        dict(learning_rate=0.01),
    ),
    "Adam betas": (
        lambda: keras.optimizers.Adam(learning_rate=0.01, beta_1=0.5, beta_2=0.9, epsilon=1e-4),
        adam_step,
        dict(learning_rate=0.01, beta_1=0.5, beta_2=0.9, epsilon=1e-4),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("scale", ["ordinary", "small"])
def test_numpy_rule_matches_keras_step_by_step(name, scale):
    """Does the lecture's NumPy rule give Keras' weights after each of 8 steps, for ordinary and tiny gradients?"""
    make, step, kwargs = CASES[name]
    grads = GRADS if scale == "ordinary" else SMALL_GRADS
    by_keras = keras_path(make(), grads)
    by_numpy = numpy_path(step, grads, **kwargs)
    moved = np.abs(by_numpy - W0).max()
    assert moved > 0
    np.testing.assert_allclose(by_keras, by_numpy, rtol=1e-5, atol=1e-6 * max(moved, 1e-3))


def test_wrong_variants_are_caught():
    """Would the comparison fail for a wrong rule: momentum for Nesterov, the sign of v, CS231n's RMSprop, the paper's Adam?"""
    nesterov = keras_path(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True))
    assert np.abs(nesterov - numpy_path(sgd_step, learning_rate=0.1, momentum=0.9)).max() > 1e-2
    momentum = keras_path(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9))
    wrong_sign = numpy_path(momentum_added_with_the_wrong_sign, learning_rate=0.1)
    assert np.abs(momentum - wrong_sign).max() > 1e-1
    rms = keras_path(keras.optimizers.RMSprop(learning_rate=0.01), SMALL_GRADS)
    cs231n = numpy_path(rmsprop_cs231n_step, SMALL_GRADS, learning_rate=0.01)
    assert np.abs(cs231n - W0).max() > 10 * np.abs(rms - W0).max()
    adam = keras_path(keras.optimizers.Adam(learning_rate=0.01), SMALL_GRADS)
    paper = numpy_path(adam_paper_step, SMALL_GRADS, learning_rate=0.01)
    assert np.abs(paper - adam).max() > 1e-3
    # ...while for ordinary gradients the paper's Adam and Keras' agree to a few parts in a million
    np.testing.assert_allclose(
        numpy_path(adam_paper_step, learning_rate=0.01),
        keras_path(keras.optimizers.Adam(learning_rate=0.01)),
        rtol=1e-4,
    )


def test_cs231n_rmsprop_steps_ten_times_further_for_small_gradients():
    """After 100 steps of a constant gradient of 3e-5, is CS231n's RMSprop step about 10x Keras' (the same for 1e-2)?"""
    sizes = np.array([3e-5, 1e-2], "float32")
    w = keras.Variable(np.zeros(2, "float32"))
    optimizer = keras.optimizers.RMSprop(learning_rate=1.0)
    cs, state = np.zeros(2), {}
    for _ in range(100):
        before, cs_before = keras.ops.convert_to_numpy(w), cs
        optimizer.apply([keras.ops.convert_to_tensor(sizes)], [w])
        cs = rmsprop_cs231n_step(cs, sizes.astype("float64"), state, 1.0)
    ratio = (cs_before - cs) / (before - keras.ops.convert_to_numpy(w))
    assert 9 < ratio[0] < 12 and abs(ratio[1] - 1) < 0.01


def test_first_steps_of_rmsprop_and_adam():
    """Is RMSprop's first step lr/sqrt(1-rho) (3.16 lr) and Adam's lr, for any gradient well above epsilon's scale?"""
    for g in [
        0.5,
        0.05,
        -20.0,
    ]:  # well above sqrt(epsilon / 0.1) = 1e-3, where epsilon starts to count
        rms = keras_path(keras.optimizers.RMSprop(learning_rate=0.1), np.full((1, 4), g, "float32"))
        np.testing.assert_allclose(W0 - rms[0], 0.1 * np.sign(g) / np.sqrt(0.1), rtol=1e-3)
        adam = keras_path(keras.optimizers.Adam(learning_rate=0.1), np.full((1, 4), g, "float32"))
        np.testing.assert_allclose(W0 - adam[0], 0.1 * np.sign(g), rtol=1e-3)


def test_seed_momentum_form_equals_keras_only_at_a_constant_rate():
    """Is seed 000's z = beta z + g, w -= alpha z Keras' momentum at a constant rate, and not after the rate changes?"""

    def seed_path(rates, beta=0.9):
        w, z, path = W0.astype("float64"), 0.0, []
        for rate, g in zip(rates, GRADS, strict=True):
            z = beta * z + g
            w = w - rate * z
            path.append(w)
        return np.array(path)

    constant = [0.1] * len(GRADS)
    by_keras = keras_path(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9), rates=constant)
    np.testing.assert_allclose(by_keras, seed_path(constant), rtol=1e-5, atol=1e-6)
    cut = [0.1] * 4 + [0.01] * 4  # the rate is cut after 4 steps
    by_keras = keras_path(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9), rates=cut)
    assert np.abs(by_keras - seed_path(cut)).max() > 1e-2  # Keras' velocity keeps the old rate


def test_valley_limit_of_sgd():
    """On L = (0.1 w1^2 + 10 w2^2)/2, does Keras' SGD converge with lr 0.18 and diverge with lr 0.21 (limit 2/10)?"""
    lam = np.array([0.1, 10.0], "float32")
    for lr, diverges in [(0.18, False), (0.21, True)]:
        w = keras.Variable(np.array([-4.5, 1.0], "float32"))
        optimizer = keras.optimizers.SGD(learning_rate=lr)
        for _ in range(60):
            optimizer.apply([lam * w.value], [w])
        steep = abs(float(keras.ops.convert_to_numpy(w)[1]))
        assert np.isclose(steep, abs(1 - lr * 10) ** 60, rtol=1e-3)
        assert (steep > 1) == diverges


# ---------------------------------------------------------------- schedules


@pytest.mark.parametrize("lr0,drop,every", [(0.1, 0.5, 10), (0.1, 0.1, 30), (0.01, 0.2, 3)])
def test_step_decay_is_a_staircase_exponential_decay(lr0, drop, every):
    """Is lr0 * drop ** (epoch // every) Keras' ExponentialDecay(staircase=True) at every epoch's first step?"""
    steps_per_epoch = 7
    schedule = keras.optimizers.schedules.ExponentialDecay(
        lr0, decay_steps=every * steps_per_epoch, decay_rate=drop, staircase=True
    )
    epochs = np.arange(100)
    by_formula = lr0 * drop ** (epochs // every)
    by_keras = [float(schedule(e * steps_per_epoch)) for e in epochs]
    np.testing.assert_allclose(by_keras, by_formula, rtol=1e-5)
    assert not np.allclose(
        by_keras, lr0 * drop ** (epochs / every), rtol=1e-3
    )  # not the smooth one


def test_exponential_decay_per_epoch():
    """Is lr0 * rate ** epoch Keras' ExponentialDecay with decay_steps = one epoch, and 0.1 * 0.999**1000 = 0.0368?"""
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.96)
    epochs = np.arange(60)
    np.testing.assert_allclose(
        [float(schedule(5 * e)) for e in epochs], 0.1 * 0.96**epochs, rtol=1e-4
    )
    np.testing.assert_allclose(0.1 * 0.96**epochs, 0.1 * np.exp(np.log(0.96) * epochs))
    assert round(0.1 * 0.999**1000, 4) == 0.0368


def test_learning_rate_scheduler_in_a_real_fit():
    """In a real fit, does LearningRateScheduler run epoch e at schedule(e), as History records it?"""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    schedule = keras.callbacks.LearningRateScheduler(lambda e, lr: 0.4 * 0.5 ** (e // 2))
    history = model.fit(x, x[:, :1], epochs=7, batch_size=16, callbacks=[schedule], verbose=0)
    np.testing.assert_allclose(
        history.history["learning_rate"], 0.4 * 0.5 ** (np.arange(7) // 2), rtol=1e-6
    )


# ---------------------------------------------------------------- ReduceLROnPlateau


def replay_plateau(val_losses, lr, factor, patience, min_delta, cooldown, min_lr=0.0):
    """The lecture's replay of ReduceLROnPlateau: the rate each epoch runs with."""
    best, wait, cooling, used = None, 0, 0, []
    for loss in val_losses:
        used.append(lr)
        if cooling > 0:
            cooling -= 1
            wait = 0
        if best is None or loss < best - min_delta:
            best, wait = loss, 0
        elif cooling == 0:
            wait += 1
            if wait >= patience and lr > np.float32(min_lr):  # at min_lr nothing is reset
                lr, wait, cooling = max(lr * factor, min_lr), 0, cooldown
    return used


@functools.cache
def _tiny_model():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    return model


def drive_callback(val_losses, lr=1.0, **kwargs):
    """Keras' ReduceLROnPlateau fed scripted validation losses, as fit would call it; the rate per epoch."""
    model = _tiny_model()
    model.optimizer.learning_rate = lr
    callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **kwargs)
    callback.set_model(model)
    callback.on_train_begin()
    used = []
    for epoch, loss in enumerate(val_losses):
        logs = {"val_loss": loss}
        callback.on_epoch_end(epoch, logs)
        used.append(logs["learning_rate"])
    return used


def first_epochs_at_a_lower_rate(used):
    return [e for e in range(1, len(used)) if used[e] < used[e - 1]]


SCRIPTED = [
    1.0,
    0.80,
    0.79,
    0.785,
    0.70,
    0.72,
    0.71,
    0.70,
    0.69,
    0.695,
    0.68,
    0.69,
    0.70,
    0.66,
    0.67,
]


@pytest.mark.parametrize(
    "cooldown,cuts", [(0, [4, 7, 9, 11, 13]), (1, [4, 7, 9, 11, 13]), (2, [4, 7, 10, 13])]
)
def test_plateau_cuts_at_the_lectures_epochs(cooldown, cuts):
    """On the lecture's scripted losses (patience 2, min_delta 0.02), does Keras cut where the lecture says?"""
    rule = dict(factor=0.5, patience=2, min_delta=0.02, cooldown=cooldown)
    used = drive_callback(SCRIPTED, **rule)
    assert first_epochs_at_a_lower_rate(used) == cuts
    np.testing.assert_allclose(used, replay_plateau(SCRIPTED, 1.0, **rule), rtol=1e-6)


def test_plateau_patience_and_min_delta():
    """Is an epoch that fails to beat the best by min_delta (absolute) a wait, the cut on the patience-th wait?"""
    creeping = [1.0 - 0.002 * e for e in range(12)]  # improves by 0.002 every epoch
    for patience in [2, 3, 4]:
        used = drive_callback(creeping, factor=0.1, patience=patience, min_delta=0.01)
        assert (
            first_epochs_at_a_lower_rate(used)[0] == patience + 1
        )  # cut at the end of epoch `patience`
    assert first_epochs_at_a_lower_rate(drive_callback(creeping, patience=2, min_delta=0.0)) == []
    # min_delta is measured from the best value, not from the previous epoch: 0.005 per epoch beats
    # the best by 0.01 every second epoch, so with patience 3 the rate is never cut
    slow = [1.0 - 0.005 * e for e in range(12)]
    assert first_epochs_at_a_lower_rate(drive_callback(slow, patience=3, min_delta=0.01)) == []
    assert first_epochs_at_a_lower_rate(drive_callback(slow, patience=2, min_delta=0.01)) == [
        3,
        6,
        9,
    ]
    # and it is absolute, not relative: 0.002 per epoch on a loss of 1000 is still a plateau
    large = [1000.0 - 0.002 * e for e in range(12)]
    assert first_epochs_at_a_lower_rate(drive_callback(large, patience=2, min_delta=0.01))[0] == 3


def test_wrong_plateau_rules_are_caught():
    """Would a replay that counts cooldown=c as c skipped epochs, or compares with the previous epoch, be caught?"""

    def skip_c_epochs(val_losses, lr, factor, patience, min_delta, cooldown):
        best, wait, cooling, used = None, 0, 0, []
        for loss in val_losses:
            used.append(lr)
            if best is None or loss < best - min_delta:
                best, wait = loss, 0
            elif cooling > 0:
                wait = 0
            else:
                wait += 1
                if wait >= patience:
                    lr, wait, cooling = lr * factor, 0, cooldown + 1
            cooling = max(cooling - 1, 0)
        return used

    def previous_epoch(val_losses, lr, factor, patience, min_delta, cooldown):
        previous, wait, used = None, 0, []
        for loss in val_losses:
            used.append(lr)
            if previous is None or loss < previous - min_delta:
                wait = 0
            else:
                wait += 1
                if wait >= patience:
                    lr, wait = lr * factor, 0
            previous = loss
        return used

    rule = dict(factor=0.5, patience=2, min_delta=0.02, cooldown=1)
    assert not np.allclose(skip_c_epochs(SCRIPTED, 1.0, **rule), drive_callback(SCRIPTED, **rule))
    slow = [1.0 - 0.005 * e for e in range(12)]  # beats the best by 0.01 every second epoch
    rule = dict(factor=0.5, patience=3, min_delta=0.01, cooldown=0)
    assert not np.allclose(previous_epoch(slow, 1.0, **rule), drive_callback(slow, **rule))


def test_plateau_replay_matches_keras_on_random_sequences():
    """Does the lecture's replay give Keras' rate at every epoch, for random losses and settings (min_lr included)?"""
    rng = np.random.default_rng(0)
    for _ in range(25):
        losses = list(np.round(1 + np.cumsum(rng.normal(-0.01, 0.03, 25)), 3))
        rule = dict(
            factor=float(rng.choice([0.1, 0.5])),
            patience=int(rng.integers(1, 5)),
            min_delta=float(rng.choice([0.0, 0.01, 0.05])),
            cooldown=int(rng.integers(0, 4)),
            min_lr=float(rng.choice([0.0, 0.05])),
        )
        np.testing.assert_allclose(
            drive_callback(losses, **rule), replay_plateau(losses, 1.0, **rule), rtol=1e-6
        )


def test_plateau_in_a_real_fit():
    """In a real fit, does ReduceLROnPlateau set the rates that the replay of History's val_loss predicts?"""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], "float32"))[:, None] + rng.normal(0, 0.5, (64, 1))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.2), loss="mse")
    rule = dict(factor=0.5, patience=2, min_delta=0.05, cooldown=1)
    callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **rule)
    history = model.fit(
        x[:48], y[:48], validation_data=(x[48:], y[48:]), epochs=10, batch_size=16, verbose=0,
        callbacks=[callback],
    ).history  # fmt: skip
    used = history["learning_rate"]
    assert len(first_epochs_at_a_lower_rate(used)) >= 2, "the run should reach a plateau"
    np.testing.assert_allclose(used, replay_plateau(history["val_loss"], 0.2, **rule), rtol=1e-5)


# ---------------------------------------------------------------- losses


def soft_iou_per_image(t, p, eps=1e-6):
    """1 - soft IoU of each image (sums over H, W, C), averaged over the batch."""
    inter = (t * p).sum(axis=(1, 2, 3))
    union = t.sum(axis=(1, 2, 3)) + p.sum(axis=(1, 2, 3)) - inter
    return float(np.mean(1 - inter / (union + eps)))


def soft_iou_batch(t, p, eps=1e-6):
    """The lecture's version: one set of sums over the whole batch."""
    inter = (t * p).sum()
    return float(1 - inter / (t.sum() + p.sum() - inter + eps))


def masks(seed, n=6, size=12):
    rng = np.random.default_rng(seed)
    return (rng.random((n, size, size, 1)) < rng.uniform(0.05, 0.6, (n, 1, 1, 1))).astype("float32")


def test_two_squares_overlapping_by_half_have_iou_one_third():
    """Does Keras' BinaryIoU give 1/3 for two equal squares overlapping by half (seed 004), and the soft loss 2/3?"""
    a, b = np.zeros((8, 12), "float32"), np.zeros((8, 12), "float32")
    a[2:6, 2:6], b[2:6, 4:8] = 1, 1
    metric = keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5)
    metric.update_state(a, b)
    assert np.isclose(float(metric.result()), 1 / 3)
    assert np.isclose(soft_iou_batch(a[None, ..., None], b[None, ..., None]), 2 / 3, atol=1e-6)


def test_soft_iou_on_binary_masks_is_one_minus_iou():
    """On 0/1 masks, is the per-image soft IoU loss the mean of 1 - IoU, and the batch version 1 - Keras' BinaryIoU?"""
    t, p = masks(1), masks(2)
    per_image_iou = [
        np.logical_and(ti, pi).sum() / np.logical_or(ti, pi).sum()
        for ti, pi in zip(t, p, strict=True)
    ]
    assert np.isclose(soft_iou_per_image(t, p), 1 - np.mean(per_image_iou), atol=1e-6)
    metric = keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5)
    metric.update_state(t, p)
    assert np.isclose(soft_iou_batch(t, p), 1 - float(metric.result()), atol=1e-5)
    # the two reductions differ when masks differ in size (one image almost empty, one almost full)
    t2 = np.concatenate([t[:1] * 0, np.ones_like(t[:1])])
    t2[0, 0, 0, 0] = 1
    p2 = np.concatenate([t[:1] * 0, np.ones_like(t[:1])])
    assert abs(soft_iou_per_image(t2, p2) - soft_iou_batch(t2, p2)) > 0.4


def test_soft_iou_gradient_pushes_the_right_way():
    """Is the soft IoU loss' gradient negative on object pixels and positive on background (tf.GradientTape)?"""
    t = masks(3)
    p = tf.Variable(np.full(t.shape, 0.5, "float32"))
    with tf.GradientTape() as tape:
        inter = tf.reduce_sum(t * p, axis=(1, 2, 3))
        union = tf.reduce_sum(t, axis=(1, 2, 3)) + tf.reduce_sum(p, axis=(1, 2, 3)) - inter
        loss = tf.reduce_mean(1 - inter / (union + 1e-6))
    grad = tape.gradient(loss, p).numpy()
    assert np.isclose(
        float(loss), soft_iou_per_image(t, np.full(t.shape, 0.5, "float32")), atol=1e-6
    )
    assert (grad[t > 0] < 0).all() and (grad[t == 0] > 0).all()


@pytest.mark.parametrize(
    "y", [np.array([0] * 90 + [1] * 10), np.array([0] * 5 + [1] * 30 + [2] * 65), np.arange(12) % 4]
)
def test_balanced_class_weights_match_sklearn(y):
    """Is n_samples / (n_classes * count_c) scikit-learn's compute_class_weight("balanced")?"""
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.unique(y)
    by_formula = len(y) / (len(classes) * np.bincount(y))
    np.testing.assert_allclose(compute_class_weight("balanced", classes=classes, y=y), by_formula)
    assert np.isclose((by_formula[y]).sum(), len(y))  # every class weighs n / k in total
    assert np.allclose(by_formula * np.bincount(y), len(y) / len(classes))


def test_class_weight_in_fit_is_a_per_sample_weight():
    """Does fit(class_weight={c: w_c}) train exactly as fit(sample_weight=w[y])?"""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = (rng.random(40) < 0.2).astype("int64")
    weights = len(y) / (2 * np.bincount(y))
    kernels = []
    for kwargs in [
        dict(class_weight={0: weights[0], 1: weights[1]}),
        dict(sample_weight=weights[y]),
    ]:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy")
        model.fit(x, y, epochs=3, batch_size=40, shuffle=False, verbose=0, **kwargs)
        kernels.append(keras.ops.convert_to_numpy(model.layers[0].kernel))
    np.testing.assert_allclose(kernels[0], kernels[1], rtol=1e-5)


def test_sobel_edges_layout_and_padding():
    """Is tf.image.sobel_edges (N, H, W, C, 2) = [d/dy, d/dx] correlations with mirrored borders (4 on a unit step)?"""
    from scipy import ndimage

    img = np.random.default_rng(0).random((9, 11)).astype("float32")
    sobel_y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], "float32")
    by_tf = tf.image.sobel_edges(tf.constant(img[None, :, :, None])).numpy()
    assert by_tf.shape == (1, 9, 11, 1, 2)
    for k, kernel in enumerate([sobel_y, sobel_y.T]):
        np.testing.assert_allclose(
            by_tf[0, :, :, 0, k], ndimage.correlate(img, kernel, mode="mirror"), atol=1e-5
        )
    # a different border rule (the edge pixel repeated) differs at the border
    assert not np.allclose(by_tf[0, :, :, 0, 0], ndimage.correlate(img, sobel_y, mode="reflect"))
    step = np.zeros((1, 5, 6, 1), "float32")
    step[:, :, 3:] = 1
    assert tf.image.sobel_edges(tf.constant(step)).numpy()[0, 2, :, 0, 1].tolist() == [
        0,
        0,
        4,
        4,
        0,
        0,
    ]


def test_composite_edge_loss_by_hand():
    """Is MSE + w * MSE(Sobel(y), Sobel(y_hat)) in TensorFlow the same number as by hand, and larger for a blur?"""
    from scipy import ndimage

    rng = np.random.default_rng(1)
    y = (rng.random((2, 10, 10, 1)) > 0.5).astype("float32")
    y_hat = ndimage.uniform_filter(y, size=(1, 3, 3, 1), mode="mirror").astype("float32")
    weight = 0.3
    edges_true, edges_pred = (
        tf.image.sobel_edges(tf.constant(y)),
        tf.image.sobel_edges(tf.constant(y_hat)),
    )
    by_tf = float(
        tf.reduce_mean((y - y_hat) ** 2) + weight * tf.reduce_mean((edges_true - edges_pred) ** 2)
    )
    sobel_y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], "float32")

    def edges(a):
        return np.stack(
            [
                np.stack(
                    [
                        ndimage.correlate(im[:, :, 0], k, mode="mirror")
                        for k in (sobel_y, sobel_y.T)
                    ],
                    -1,
                )
                for im in a
            ]
        )  # (N, H, W, 2)

    by_hand = ((y - y_hat) ** 2).mean() + weight * ((edges(y) - edges(y_hat)) ** 2).mean()
    assert np.isclose(by_tf, by_hand, rtol=1e-5)
    assert by_tf > ((y - y_hat) ** 2).mean()


def test_edge_filter_1d_is_a_conv1d():
    """Is the lecture's 1-D edge term r[i] - r[i+2] Keras' Conv1D with the kernel [1, 0, -1]?"""
    rows = np.random.default_rng(0).random((3, 12)).astype("float32")
    conv = keras.layers.Conv1D(1, 3, use_bias=False)
    conv.build((None, 12, 1))
    conv.set_weights([np.array([1, 0, -1], "float32").reshape(3, 1, 1)])
    by_keras = keras.ops.convert_to_numpy(conv(rows[..., None]))[..., 0]
    np.testing.assert_allclose(by_keras, rows[:, :-2] - rows[:, 2:], atol=1e-6)


def test_mse_is_minimised_by_the_mean_and_mae_by_the_median():
    """For a pixel that is white 70% of the time, do Keras' MSE and MAE pick 0.7 and 1 (and 0.25 < 0.5 at 50/50)?"""
    targets = np.array([1.0] * 7 + [0.0] * 3, "float32")[:, None]
    grid = np.linspace(0, 1, 101, dtype="float32")
    mse, mae = keras.losses.MeanSquaredError(), keras.losses.MeanAbsoluteError()
    mse_curve = [float(mse(targets, np.full_like(targets, c))) for c in grid]
    mae_curve = [float(mae(targets, np.full_like(targets, c))) for c in grid]
    assert np.isclose(grid[np.argmin(mse_curve)], 0.7) and np.isclose(
        grid[np.argmin(mae_curve)], 1.0
    )
    half = np.array([[1.0], [0.0]], "float32")
    assert (
        float(mse(half, np.full_like(half, 0.5)))
        == 0.25
        < float(mse(half, np.ones_like(half)))
        == 0.5
    )
