"""Tests of ``cnn_course.models`` (the shipped pretrained base, ImageNet models) and ``cnn_course.pretrain``."""

import json
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cnn_course import data, models, pretrain  # noqa: E402

TOLERANCE = 0.03
"""Allowed shortfall of the accuracy on a fresh sample of 1,000 images (about three standard errors)."""

BLOCK_LAYERS = [
    f"block{b}_{kind}{k}" for b in (1, 2, 3) for k in (1, 2) for kind in ("conv", "bn")
] + [f"block{b}_pool" for b in (1, 2, 3)]


@pytest.fixture(scope="module")
def base():
    return models.pretrained_base()


def test_shipped_file_rebuilds_with_vgg_layer_names(base):
    """Does the shipped weights file load into build_base, with VGG-style names and a separate softmax?"""
    assert models.BASE_WEIGHTS.is_file()
    assert models.BASE_WEIGHTS.stat().st_size < 3 * 2**20
    names = [layer.name for layer in base.layers]
    for name in BLOCK_LAYERS + ["avg_pool", "logits", "predictions"]:
        assert name in names
    assert base.get_layer("block2_conv1").get_config()["activation"] == "relu"
    assert base.get_layer("logits").get_config()["activation"] == "linear"
    assert base.get_layer("predictions").get_config()["activation"] == "softmax"
    assert base.output.shape[-1] == len(data.SOURCE_CLASSES)
    assert not any("add" in name for name in names)  # plain: no residual connections
    # really the trained weights: they differ from a fresh build
    fresh = models.build_base()
    w, w0 = (
        base.get_layer("block1_conv1").get_weights()[0],
        fresh.get_layer("block1_conv1").get_weights()[0],
    )
    assert w.shape == w0.shape == (3, 3, 3, models.FILTERS[0]) and not np.allclose(w, w0)


def test_recorded_accuracy_holds_on_a_fresh_sample(base):
    """On 1,000 source-task images from a seed never used in training, is the accuracy the recorded one?"""
    record = json.loads(models.BASE_WEIGHTS.with_name("base.json").read_text())
    assert record["held_out_accuracy"] == models.SOURCE_ACCURACY
    seeds = range(record["train_seeds"][0], record["train_seeds"][1] + 1)
    assert pretrain.EVAL_SEED not in seeds and pretrain.EVAL_SEED != record["held_out_seed"]
    x, y = data.load_source_task(1000, seed=pretrain.EVAL_SEED)
    probs = base.predict(x, batch_size=250, verbose=0)  # (1000, 14)
    accuracy = float(np.mean(probs.argmax(axis=1) == y))
    assert accuracy >= models.SOURCE_ACCURACY - TOLERANCE, accuracy
    assert accuracy > 0.8  # chance is 1/14
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_logits_are_the_pre_softmax_scores(base):
    """Is the predictions layer the softmax of the logits layer's output?"""
    x, _ = data.load_source_task(8, seed=pretrain.EVAL_SEED)
    both = keras.Model(base.input, [base.get_layer("logits").output, base.output])
    logits, probs = (np.asarray(t) for t in both(x, training=False))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(axis=1, keepdims=True), atol=1e-6)


def test_include_top_false_is_the_convolutional_base(base):
    """Does include_top=False end at block3_pool, keep the layer names and give the full model's features?"""
    conv = models.pretrained_base(include_top=False)
    assert tuple(conv.output.shape) == (None, 4, 4, models.FILTERS[-1])
    assert conv.get_layer("block1_conv1").output.shape[1:] == (32, 32, models.FILTERS[0])
    assert "logits" not in [layer.name for layer in conv.layers]
    x, _ = data.load_source_task(4, seed=pretrain.EVAL_SEED)
    inner = keras.Model(base.input, base.get_layer("block3_pool").output)
    np.testing.assert_allclose(conv(x, training=False), inner(x, training=False), atol=1e-6)
    photo = models.pretrained_base(include_top=False, input_shape=(None, None, 3))
    assert tuple(photo(np.zeros((1, 64, 48, 3), np.float32)).shape) == (1, 8, 6, models.FILTERS[-1])


def test_frozen_base_is_unchanged_by_fit():
    """Used frozen inside a new model, do the base's weights and BN moving statistics survive a fit step?"""
    conv = models.pretrained_base(include_top=False)
    conv.trainable = False
    inputs = keras.Input((32, 32, 3))
    h = conv(inputs, training=False)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(learning_rate=1e-2), "sparse_categorical_crossentropy")
    before = [w.copy() for w in conv.get_weights()]
    head_before = model.layers[-1].get_weights()[0].copy()
    x, y = data.load_shortcut("marker", n=64, seed=0)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    after = conv.get_weights()
    assert (
        len(before) == len(after) == 36
    )  # 6 convs x (kernel, bias) + 6 BNs x 4 (moving stats included)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert not np.allclose(model.layers[-1].get_weights()[0], head_before)


def test_tiny_pretrain_writes_a_loadable_file_deterministically(tmp_path):
    """Do two tiny runs of the pretrain command write identical weights that pretrained_base loads?"""
    # A process of its own: pretrain turns on TensorFlow's op determinism for the whole process.
    a, b = tmp_path / "a.weights.h5", tmp_path / "b.weights.h5"
    code = (
        "from cnn_course.pretrain import main; "
        f"main(['--epochs', '1', '--n', '128', '--out', {str(a)!r}]); "
        f"main(['--epochs', '1', '--n', '128', '--out', {str(b)!r}])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("held-out accuracy") == 2
    record = json.loads((tmp_path / "a.json").read_text())
    assert record["epochs"] == 1 and record["n_per_epoch"] == 128
    model_a = models.pretrained_base(weights=a)
    model_b = models.pretrained_base(weights=b)
    for wa, wb in zip(model_a.get_weights(), model_b.get_weights(), strict=True):
        assert np.array_equal(wa, wb)
    shipped = models.pretrained_base().get_weights()
    assert not np.array_equal(model_a.get_weights()[0], shipped[0])


def test_pretrain_refuses_a_bad_file_name():
    """Does the pretrain command refuse an output name Keras cannot save weights to?"""
    with pytest.raises(SystemExit):
        pretrain.main(["--out", "base.h5"])


def test_imagenet_model_offline_returns_none_with_a_notice(monkeypatch, tmp_path, capsys):
    """With an empty Keras cache, does imagenet_model print one line naming the substitute and return None?"""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    for name in ("VGG19", "MobileNetV2"):
        assert models.imagenet_model(name) is None
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and name in out and "pretrained_base()" in out
    assert models.imagenet_model("VGG19", substitute="a random network") is None
    assert "substitute a random network instead" in capsys.readouterr().out
    with pytest.raises(ValueError):
        models.imagenet_model("ResNet50")


def test_imagenet_weights_path_follows_keras_home(monkeypatch, tmp_path):
    """Is the cached file looked for where keras.applications downloads it ($KERAS_HOME or ~/.keras, models/)?"""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    path = models.imagenet_weights_path("VGG19")
    assert path == tmp_path / "models" / "vgg19_weights_tf_dim_ordering_tf_kernels.h5"
    monkeypatch.delenv("KERAS_HOME")
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models.imagenet_weights_path("MobileNetV2") == (
        tmp_path / "home" / ".keras" / "models" / models.IMAGENET_WEIGHTS["MobileNetV2"]
    )
    # the names keras.applications itself downloads (MobileNetV2: alpha 1.0, 224x224, with the top)
    import inspect

    from keras.src.applications import mobilenet_v2, vgg19

    assert vgg19.WEIGHTS_PATH.endswith("/" + models.IMAGENET_WEIGHTS["VGG19"])
    assert '"mobilenet_v2_weights_tf_dim_ordering_tf_kernels"' in inspect.getsource(mobilenet_v2)
    assert models.IMAGENET_WEIGHTS["MobileNetV2"] == (
        f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{1.0}_{224}.h5"
    )


def test_imagenet_model_uses_the_cached_file(monkeypatch, tmp_path, capsys):
    """When the weights file is cached, is keras.applications called with that file (no notice)?

    A real load is not run here: the cached files are 14 MB (MobileNetV2) and 549 MB (VGG19).
    """
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    path = models.imagenet_weights_path("MobileNetV2")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"stand-in")
    calls = []
    monkeypatch.setattr(
        keras.applications, "MobileNetV2", lambda weights: calls.append(weights) or "model"
    )
    assert models.imagenet_model("MobileNetV2") == "model"
    assert calls == [str(path)] and capsys.readouterr().out == ""
