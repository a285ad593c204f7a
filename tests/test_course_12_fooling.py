"""Lecture 12's rules for FGSM, the loss from the logits and the shortcut gap, checked against Keras and TensorFlow.

Each rule the lecture states is computed here by hand (NumPy or plain TensorFlow) and compared with Keras on the
same inputs, on the shipped base and a sample of its source task; a second case shows that a wrong variant (the
step downhill, the loss from clipped probabilities, no renormalisation, no balancing) gives different numbers, so
each check can fail.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from cnn_course.data import load_shortcut, load_source_task, shortcut_test_sets  # noqa: E402
from cnn_course.models import pretrained_base  # noqa: E402

EPS_CLIP = 1e-7  # keras.config.epsilon(): Keras clips probabilities to [EPS_CLIP, 1 - EPS_CLIP]
SHARPEN = 4.0  # the lecture's sharp model: the base with its logits multiplied by 4


@pytest.fixture(scope="module")
def base():
    """The shipped base and the same network stopped at its logits."""
    model = pretrained_base()
    return model, keras.Model(model.input, model.get_layer("logits").output)


@pytest.fixture(scope="module")
def images():
    """64 source-task images (a seed never trained on): (64, 32, 32, 3) in [0, 1] and their labels."""
    return load_source_task(64, seed=4)


def loss_and_gradient(model, x, y, from_logits=True, scale=1.0):
    """Per-image cross-entropy (N,) and its gradient with respect to x (N, H, W, C).

    ``model`` outputs logits; ``scale`` multiplies them (the sharp model). With ``from_logits=False``
    the loss is Keras's on probabilities computed by ``tf.nn.softmax`` (a plain tensor).
    """
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = scale * model(x, training=False)
        out = z if from_logits else tf.nn.softmax(z)
        loss = keras.losses.sparse_categorical_crossentropy(y, out, from_logits=from_logits)
    return loss.numpy(), tape.gradient(loss, x).numpy()


# ---------------------------------------------------------------- cross-entropy from the logits


def test_cross_entropy_gradient_with_respect_to_the_logits_is_p_minus_one_hot():
    """Is d CE / d z = softmax(z) - one_hot(y) for Keras's loss with from_logits=True?"""
    rng = np.random.default_rng(0)
    z = tf.constant(rng.normal(scale=3.0, size=(8, 5)), tf.float32)
    y = rng.integers(0, 5, size=8)
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True)
    got = tape.gradient(loss, z).numpy()
    p = np.exp(z.numpy() - z.numpy().max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    one_hot = np.eye(5)[y]
    np.testing.assert_allclose(got, p - one_hot, atol=1e-6)
    assert not np.allclose(got, one_hot - p, atol=1e-3)  # the sign matters: FGSM climbs this


def test_keras_loss_on_probabilities_clips_and_renormalises():
    """Is Keras's loss on a plain tensor of probabilities -log(p~_y / sum p~) with p~ = clip(p, 1e-7, 1 - 1e-7)?"""
    rng = np.random.default_rng(1)
    z = (rng.normal(size=(200, 6)) * np.array([[1.0], [30.0]] * 100)).astype(
        "float32"
    )  # mild and confident rows
    y = z.argmax(axis=1)
    p = np.asarray(keras.ops.softmax(z))
    got = keras.losses.sparse_categorical_crossentropy(y, p).numpy()
    clipped = np.clip(p.astype("float64"), EPS_CLIP, 1 - EPS_CLIP)
    by_hand = -np.log(clipped[np.arange(200), y] / clipped.sum(axis=1))
    np.testing.assert_allclose(got, by_hand, rtol=1e-3, atol=3e-7)  # float32 logs near 1
    # the wrong variant: clip only p_y, no renormalisation; on saturated rows (p_y > 1 - 1e-7, so every other
    # probability is clipped up to 1e-7) it misses the 5 x 1e-7 that the clipped runners-up add to the sum
    no_renorm = -np.log(clipped[np.arange(200), y])
    saturated = p[np.arange(200), y] > np.float32(1 - EPS_CLIP)
    assert saturated.sum() > 30
    assert np.all(got[saturated] > 3 * no_renorm[saturated])


def test_saturation_starts_near_a_margin_of_16():
    """Does the clipped-probability loss of two classes lose its gradient past margin ln((1-1e-7)/1e-7), about 16?"""
    q = np.float32(1 - EPS_CLIP)
    threshold = np.log(q / (1 - q))
    assert threshold == pytest.approx(15.94, abs=0.01)
    label = np.array([0])
    for margin, saturated in [(14.0, False), (15.0, False), (17.0, True), (25.0, True)]:
        z = tf.Variable([[margin, 0.0]])
        with tf.GradientTape(persistent=True) as tape:
            from_p = keras.losses.sparse_categorical_crossentropy(label, tf.nn.softmax(z))
            from_z = keras.losses.sparse_categorical_crossentropy(label, z, from_logits=True)
        g_p, g_z = tape.gradient(from_p, z).numpy(), tape.gradient(from_z, z).numpy()
        assert g_z[0, 1] > 0  # from the logits: p_2 - 0 = p_2 > 0, however confident
        assert np.all(g_p == 0) == saturated, (margin, g_p)


def test_the_saturation_trap_on_the_sharp_base(base, images):
    """On the base with logits x4, is the image gradient of the clipped-probability loss exactly 0 where p_y > 1 - 1e-7,
    non-zero from the logits, and equal to the logits' gradient where no probability is clipped?"""
    _, logits = base
    x, y = images
    z = SHARPEN * logits(x, training=False).numpy()
    p = np.asarray(keras.ops.softmax(z))
    saturated = p[np.arange(len(y)), y] > np.float32(1 - EPS_CLIP)
    assert 0.2 < saturated.mean() < 0.9  # the lecture's "about half"
    _, g_p = loss_and_gradient(logits, x, y, from_logits=False, scale=SHARPEN)
    _, g_z = loss_and_gradient(logits, x, y, from_logits=True, scale=SHARPEN)
    norm_p, norm_z = np.abs(g_p).sum(axis=(1, 2, 3)), np.abs(g_z).sum(axis=(1, 2, 3))
    assert np.all(norm_p[saturated] == 0) and np.all(norm_p[~saturated] > 0)
    assert np.all(norm_z > 0)
    # the base at half its confidence clips no probability at all: there the two losses are one function
    p_half = np.asarray(keras.ops.softmax(0.5 * z / SHARPEN))
    assert p_half.min() > 1e-6
    _, g_p = loss_and_gradient(logits, x, y, from_logits=False, scale=0.5)
    _, g_z = loss_and_gradient(logits, x, y, from_logits=True, scale=0.5)
    np.testing.assert_allclose(g_p, g_z, rtol=1e-2, atol=1e-4 * np.abs(g_z).max())


def test_keras_loss_finds_the_logits_of_its_own_softmax(base, images):
    """Does Keras's loss (from_logits=False) on a Keras softmax's own output use its logits (no trap), but not
    after any other operation (the trap), as the lecture says?"""
    model, logits = base
    x, y = images
    sharp = keras.Model(
        model.input,
        keras.layers.Activation("softmax")(keras.layers.Rescaling(SHARPEN)(logits.output)),
    )
    zero_share = {}
    for name, after in [("own", lambda p: p), ("copied", lambda p: p * 1.0)]:
        x_t = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x_t)
            loss = keras.losses.sparse_categorical_crossentropy(
                y, after(sharp(x_t, training=False))
            )
        g = tape.gradient(loss, x_t).numpy()
        zero_share[name] = np.mean(np.abs(g).sum(axis=(1, 2, 3)) == 0)
    assert zero_share["own"] == 0 and zero_share["copied"] > 0.2


# ---------------------------------------------------------------- FGSM


@pytest.mark.parametrize("eps", [0.005, 0.03])
def test_fgsm_stays_in_the_box_and_raises_the_loss(base, images, eps):
    """Is clip(x + eps sign(grad), 0, 1) within eps of x, inside [0, 1], and no lower in loss on any image,
    while the step downhill (x - eps sign(grad)) lowers it?"""
    _, logits = base
    x, y = images
    loss, g = loss_and_gradient(logits, x, y)
    x_adv = np.clip(x + eps * np.sign(g), 0.0, 1.0)
    assert np.abs(x_adv - x).max() <= eps + 1e-7
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert np.abs(x_adv - x).max() > eps - 1e-6  # it does move by eps somewhere
    loss_adv, _ = loss_and_gradient(logits, x_adv, y)
    assert np.all(loss_adv >= loss - 1e-6)
    x_down = np.clip(x - eps * np.sign(g), 0.0, 1.0)
    loss_down, _ = loss_and_gradient(logits, x_down, y)
    assert loss_down.mean() < loss.mean() < loss_adv.mean()


def test_fgsm_step_maximises_the_linearised_loss(base, images):
    """Is grad . delta largest at delta = eps sign(grad) among perturbations with |delta|_inf <= eps, equal to
    eps |grad|_1, and does the network's loss change match grad . (x_adv - x) for a tiny eps?"""
    _, logits = base
    x, y = images
    loss, g = loss_and_gradient(logits, x[:4], y[:4])
    eps = 1e-3
    best = np.sum(g * eps * np.sign(g), axis=(1, 2, 3))
    np.testing.assert_allclose(best, eps * np.abs(g).sum(axis=(1, 2, 3)), rtol=1e-5)
    rng = np.random.default_rng(2)
    for _ in range(20):  # random corners of the box and the scaled gradient itself do worse
        other = eps * rng.choice([-1.0, 1.0], size=g.shape)
        assert np.all(np.sum(g * other, axis=(1, 2, 3)) < best)
    scaled = eps * g / np.abs(g).max(axis=(1, 2, 3), keepdims=True)
    assert np.all(np.sum(g * scaled, axis=(1, 2, 3)) < best)
    x_adv = np.clip(x[:4] + eps * np.sign(g), 0.0, 1.0)
    predicted = np.sum(g * (x_adv - x[:4]), axis=(1, 2, 3))
    measured = loss_and_gradient(logits, x_adv, y[:4])[0] - loss
    np.testing.assert_allclose(measured, predicted, rtol=0.15)


def test_fgsm_hurts_far_more_than_random_noise_of_the_same_size(base, images):
    """At eps = 0.03, does FGSM cut the base's accuracy by far more than random +-eps noise does?"""
    _, logits = base
    x, y = images
    _, g = loss_and_gradient(logits, x, y)
    noise = np.random.default_rng(3).choice([-1.0, 1.0], size=x.shape).astype("float32")

    def acc(images):
        return np.mean(logits(images, training=False).numpy().argmax(axis=1) == y)

    clean = acc(x)
    adversarial = acc(np.clip(x + 0.03 * np.sign(g), 0, 1).astype("float32"))
    noisy = acc(np.clip(x + 0.03 * noise, 0, 1).astype("float32"))
    assert clean > 0.9 and noisy > clean - 0.05 and adversarial < clean - 0.3


# ---------------------------------------------------------------- the shortcut gap


def _grass(x):
    """The lecture's background reader: 1 where the four 2x2 corners are green."""
    corners = np.concatenate(
        [x[:, :2, :2], x[:, :2, -2:], x[:, -2:, :2], x[:, -2:, -2:]], axis=1
    ).mean(axis=(1, 2))
    return (corners[:, 1] - (corners[:, 0] + corners[:, 2]) / 2 > 0.12).astype(int)


def _has_cross(x):
    """The lecture's cross reader: a 5x5 "x" template whose 9 pixels are darker than the other 16 by over 0.3."""
    template = np.eye(5, dtype=bool) | np.eye(5, dtype=bool)[::-1]
    grey, size = x.mean(axis=-1), x.shape[1]
    starts = [1, 2, 3, size - 8, size - 7, size - 6]
    contrast = np.full(len(x), -np.inf)
    for r in starts:
        for c in starts:
            box = grey[:, r : r + 5, c : c + 5]
            contrast = np.maximum(
                contrast, box[:, ~template].mean(axis=1) - box[:, template].mean(axis=1)
            )
    return (contrast > 0.3).astype(int)


@pytest.mark.parametrize("cue,reader", [("marker", _has_cross), ("background", _grass)])
def test_the_lectures_cue_readers_match_the_generator(cue, reader):
    """Do the lecture's pixel readers (cross template, corner colour) find exactly the generator's cue?"""
    for aligned, seed in [(0.95, 0), (0.5, 3), (0.0, 5)]:
        x, _, cue_label = load_shortcut(cue, 400, aligned, seed=seed, return_cue=True)
        np.testing.assert_array_equal(reader(x), cue_label)


def test_balancing_shrinks_the_shortcut_gap(base):
    """With a 95%-aligned background cue, does a linear classifier on the base's pooled first-block features show a
    large gap (aligned - swapped accuracy), and does balancing the (class, cue) groups by sample weight shrink it
    while the accuracy with the cue removed does not drop?"""
    from sklearn.linear_model import LogisticRegression

    model, _ = base
    maps = model.get_layer("block1_conv2").output  # (N, 32, 32, 16): colours and edges
    pooled = keras.layers.Concatenate()(
        [keras.layers.GlobalAveragePooling2D()(maps), keras.layers.GlobalMaxPooling2D()(maps)]
    )
    features = keras.Model(model.input, pooled)  # (N, 32)

    def feats(x):
        return features.predict(x, batch_size=500, verbose=0)

    x, y = load_shortcut("background", 600, aligned=0.95, seed=0)
    tests = {
        k: (feats(xt), yt) for k, (xt, yt) in shortcut_test_sets("background", 300, seed=1).items()
    }
    f = feats(x)
    groups = 2 * y + _grass(x)
    weights = (len(y) / 4 / np.bincount(groups, minlength=4))[groups]
    np.testing.assert_allclose(np.bincount(groups, weights=weights), len(y) / 4)

    def gap(sample_weight):
        clf = LogisticRegression(max_iter=5000).fit(f, y, sample_weight=sample_weight)
        acc = {k: clf.score(ft, yt) for k, (ft, yt) in tests.items()}
        return acc["aligned"] - acc["swapped"], acc

    gap_plain, acc_plain = gap(None)
    gap_balanced, acc_balanced = gap(weights)
    assert gap_plain > 0.4, acc_plain
    assert gap_balanced < gap_plain / 3, (acc_plain, acc_balanced)
    assert acc_balanced["removed"] >= acc_plain["removed"] - 0.02
