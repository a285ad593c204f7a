"""Tests of the offline-first data module ``cnn_course.data``."""

import sys

import numpy as np
import pytest

from cnn_course import data


def test_data_module_imports_numpy_only():
    """Does importing cnn_course.data leave scikit-learn, scikit-image and Keras unimported?"""
    import subprocess

    code = (
        "import sys, cnn_course.data; "
        "print(sorted(m for m in ('sklearn', 'skimage', 'keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("size", [28, 32])
def test_load_digits_shapes_and_range(size):
    """Does load_digits give (1797, size, size, 1) float32 in [0, 1] with int labels 0-9?"""
    x, y = data.load_digits(size)
    assert x.shape == (1797, size, size, 1)
    assert x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.9
    assert np.issubdtype(y.dtype, np.integer)
    assert set(np.unique(y)) == set(range(10))


def test_load_digits_keeps_the_digit():
    """Does the resized digit still look like the 8x8 original when shrunk back?"""
    import sklearn.datasets

    small = sklearn.datasets.load_digits().images[:50] / 16.0
    x, _ = data.load_digits(32)
    pooled = x[:50, :, :, 0].reshape(50, 8, 4, 8, 4).mean(axis=(2, 4))
    assert np.corrcoef(pooled.ravel(), small.ravel())[0, 1] > 0.95


def test_train_test_split_is_seeded_stratified_and_disjoint():
    """Does train_test_split keep every class's share, cover every sample once and repeat for a seed?"""
    x = np.arange(1000)[:, None].astype(np.float32)
    y = np.arange(1000) % 4
    (xa, ya), (xb, yb) = data.train_test_split(x, y, test_size=0.2, seed=1)
    assert len(xb) == 200 and np.bincount(yb).tolist() == [50, 50, 50, 50]
    assert sorted(np.concatenate([xa, xb]).ravel().tolist()) == list(range(1000))
    (xa2, _), _ = data.train_test_split(x, y, test_size=0.2, seed=1)
    (xa3, _), _ = data.train_test_split(x, y, test_size=0.2, seed=2)
    assert np.array_equal(xa, xa2) and not np.array_equal(xa, xa3)


def test_load_shapes_shapes_dtype_range():
    """Does load_shapes give (n, 32, 32, 3) float32 in [0, 1] and int labels?"""
    x, y = data.load_shapes(120, seed=0)
    assert x.shape == (120, 32, 32, 3) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert y.shape == (120,) and np.issubdtype(y.dtype, np.integer)
    assert set(np.unique(y)) == set(range(data.DEFAULT_SHAPES))


def test_load_shapes_same_seed_same_images():
    """Does load_shapes give the same images for the same seed?"""
    x1, y1 = data.load_shapes(60, seed=7)
    x2, y2 = data.load_shapes(60, seed=7)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)


def test_load_shapes_different_seeds_differ():
    """Do two seeds give different images?"""
    x1, _ = data.load_shapes(60, seed=0)
    x2, _ = data.load_shapes(60, seed=1)
    assert np.abs(x1 - x2).mean() > 0.05


@pytest.mark.parametrize("classes", [3, 6, 10])
def test_load_shapes_is_class_balanced(classes):
    """Are the classes balanced to within one image?"""
    _, y = data.load_shapes(301, seed=0, classes=classes)
    counts = np.bincount(y, minlength=classes)
    assert len(counts) == classes and counts.max() - counts.min() <= 1


def test_load_shapes_class_names():
    """Do named classes give labels in the order of the names, and are the names exported?"""
    assert data.SHAPE_CLASSES[:3] == ("circle", "square", "triangle")
    assert len(set(data.SHAPE_CLASSES)) == len(data.SHAPE_CLASSES) == 10
    x, y = data.load_shapes(40, seed=0, classes=["ring", "bar"], noise=0.0)
    assert set(np.unique(y)) == {0, 1}
    # without noise an image holds exactly two colours: background and shape
    assert len(np.unique(x[0].reshape(-1, 3), axis=0)) == 2
    with pytest.raises(ValueError):
        data.load_shapes(10, classes=["circle", "blob"])


def test_load_shapes_classes_differ_in_area():
    """Do rings cover less of the image than circles of the same draw (the classes are really drawn)?"""
    x, y = data.load_shapes(600, seed=0, classes=["circle", "ring"], noise=0.0)
    bg = x[:, :1, :1, :]  # corners are always background (shapes stay inside the frame)
    fg_share = (np.abs(x - bg).sum(-1) > 1e-6).mean(axis=(1, 2))
    assert fg_share[y == 0].mean() > 1.3 * fg_share[y == 1].mean()


def _force_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras_home"))
    monkeypatch.delenv("CNN_COURSE_ALLOW_DOWNLOAD", raising=False)


def test_load_mnist_offline_fallback(monkeypatch, tmp_path, capsys):
    """With no cache and no download allowed, does load_mnist print one notice and return 28x28x1 digits?"""
    _force_offline(monkeypatch, tmp_path)
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "MNIST not available offline" in out
    assert x_train.shape[1:] == (28, 28, 1) and x_test.shape[1:] == (28, 28, 1)
    assert len(x_train) + len(x_test) == 1797 and len(y_train) == len(x_train)
    assert x_train.dtype == np.float32 and 0 <= x_train.min() and x_train.max() <= 1
    assert np.issubdtype(y_train.dtype, np.integer) and set(np.unique(y_test)) == set(range(10))


def test_load_cifar10_offline_fallback(monkeypatch, tmp_path, capsys):
    """With no cache and no download allowed, does load_cifar10 print one notice and return 32x32x3 in 10 classes?"""
    _force_offline(monkeypatch, tmp_path)
    (x_train, y_train), (x_test, y_test) = data.load_cifar10()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "CIFAR-10 not available offline" in out
    assert x_train.shape == (5000, 32, 32, 3) and x_test.shape == (1000, 32, 32, 3)
    assert y_train.shape == (5000,) and x_train.dtype == np.float32
    assert set(np.unique(y_train)) == set(range(10))


def test_load_mnist_uses_the_keras_cache(monkeypatch, tmp_path, capsys):
    """When mnist.npz sits in the Keras cache, is it read (no notice, scaled to [0, 1], NHWC)?"""
    home = tmp_path / "keras_home"
    (home / "datasets").mkdir(parents=True)
    rng = np.random.default_rng(0)
    fake = {
        "x_train": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 20, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    np.savez(home / "datasets" / "mnist.npz", **fake)
    monkeypatch.setenv("KERAS_HOME", str(home))
    captured = {}

    def fake_try(name, cache):
        assert data._cached(*cache)
        captured["name"] = name
        return (fake["x_train"], fake["y_train"]), (fake["x_test"], fake["y_test"])

    monkeypatch.setattr(data, "_try_keras", fake_try)
    (x_train, y_train), (x_test, _) = data.load_mnist()
    assert captured["name"] == "mnist" and capsys.readouterr().out == ""
    assert x_train.shape == (20, 28, 28, 1) and x_test.shape == (5, 28, 28, 1)
    assert x_train.dtype == np.float32
    np.testing.assert_allclose(x_train[..., 0], fake["x_train"] / 255.0, rtol=1e-6)
    assert np.array_equal(y_train, fake["y_train"])


def test_try_keras_skips_network_when_not_cached(monkeypatch, tmp_path):
    """With no cache and no permission, does _try_keras return None without importing Keras's downloader?"""
    _force_offline(monkeypatch, tmp_path)
    assert data._try_keras("mnist", ("mnist.npz",)) is None


def test_load_photo_still_works():
    """Does load_photo keep its signature and give a float32 image in [0, 1]?"""
    img = data.load_photo("camera", gray=True, size=64)
    assert img.ndim == 2 and min(img.shape) == 64 and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1
    rgb = data.load_photo("astronaut", gray=False, size=32)
    assert rgb.shape[-1] == 3 and min(rgb.shape[:2]) == 32
