"""The grader's reference is only as good as its agreement with Keras and SciPy."""

import numpy as np
import pytest
import scipy.signal

from autograder.reference import convolution as ref

keras = pytest.importorskip("keras")


def _configs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        fh, fw = rng.integers(1, 5, size=2)
        dilation = int(rng.integers(1, 3))
        stride = 1 if dilation > 1 else int(rng.integers(1, 4))
        padding = str(rng.choice(["valid", "same"]))
        h = int(rng.integers(dilation * (fh - 1) + 1, 12))
        w = int(rng.integers(dilation * (fw - 1) + 1, 12))
        c_in, c_out, batch = (int(v) for v in rng.integers(1, 4, size=3))
        yield dict(
            fh=int(fh),
            fw=int(fw),
            h=h,
            w=w,
            c_in=c_in,
            c_out=c_out,
            batch=batch,
            stride=stride,
            padding=padding,
            dilation=dilation,
        )


@pytest.mark.parametrize(
    "cfg", list(_configs(40)), ids=lambda c: "-".join(f"{v}" for v in c.values())
)
def test_conv2d_matches_keras(cfg):
    """Does the reference conv2d equal keras.layers.Conv2D with the same weights?"""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(cfg["batch"], cfg["h"], cfg["w"], cfg["c_in"])).astype("float32")
    w = rng.normal(size=(cfg["fh"], cfg["fw"], cfg["c_in"], cfg["c_out"])).astype("float32")
    b = rng.normal(size=cfg["c_out"]).astype("float32")
    layer = keras.layers.Conv2D(
        cfg["c_out"],
        (cfg["fh"], cfg["fw"]),
        strides=cfg["stride"],
        padding=cfg["padding"],
        dilation_rate=cfg["dilation"],
    )
    layer.build(x.shape)
    layer.set_weights([w, b])
    want = keras.ops.convert_to_numpy(layer(x))
    got = ref.conv2d(
        x, w, b, stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"]
    )
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for axis, (n, f) in enumerate(((cfg["h"], cfg["fh"]), (cfg["w"], cfg["fw"])), start=1):
        assert (
            ref.output_size(n, f, cfg["padding"], cfg["stride"], cfg["dilation"])
            == want.shape[axis]
        )


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(
    "pool_size,stride,h,w",
    [(2, None, 8, 6), (3, 2, 9, 7), (2, 1, 5, 5), (3, None, 10, 11), (2, 3, 9, 8)],
)
def test_pool2d_matches_keras(mode, pool_size, stride, h, w):
    """Does the reference pooling equal MaxPooling2D / AveragePooling2D (valid)?"""
    x = np.random.default_rng(2).normal(size=(2, h, w, 3)).astype("float32")
    cls = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
    want = keras.ops.convert_to_numpy(cls(pool_size=pool_size, strides=stride, padding="valid")(x))
    np.testing.assert_allclose(ref.pool2d(x, pool_size, stride, mode), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(10))
def test_corr2d_and_true_convolution_match_scipy(seed):
    """Do corr2d and conv2d_true equal scipy.signal's correlate2d and convolve2d (valid)?"""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=tuple(rng.integers(4, 12, size=2)))
    kernel = rng.normal(size=tuple(rng.integers(1, 4, size=2)))
    np.testing.assert_allclose(
        ref.corr2d(image, kernel), scipy.signal.correlate2d(image, kernel, mode="valid"), atol=1e-10
    )
    np.testing.assert_allclose(
        ref.conv2d_true(image, kernel),
        scipy.signal.convolve2d(image, kernel, mode="valid"),
        atol=1e-10,
    )


def test_seed_examples():
    """Does the reference reproduce the lectures' worked examples (4, 3, 4 and 6)?"""
    image = np.array(
        [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]
    )
    assert ref.corr2d(image, np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]]))[0].tolist() == [4, 3, 4]
    x = np.array(
        [[7, 2, 3, 3, 8], [4, 5, 3, 8, 4], [3, 3, 2, 8, 4], [2, 8, 7, 2, 7], [5, 4, 4, 5, 4]]
    )
    assert ref.corr2d(x, np.array([[1, 0, -1]] * 3))[0, 0] == 6


@pytest.mark.parametrize("stride", [1, 2])
def test_im2col_times_kernel_is_convolution(stride):
    """Is im2col(x) @ w.reshape(-1, C_out) the convolution, rows (n, i, j), columns (u, v, c)?"""
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(2, 7, 6, 3)), rng.normal(size=(3, 2, 3, 4))
    cols = ref.im2col(x, 3, 2, stride)
    out = (cols @ w.reshape(-1, 4)).reshape(2, -1, ref.output_size(6, 2, 0, stride), 4)
    np.testing.assert_allclose(out, ref.conv2d(x, w, stride=stride), atol=1e-10)


@pytest.mark.parametrize("sigma,radius", [(1.0, 2), (0.7, 1), (2.5, 4)])
def test_separable_blur_equals_two_1d_passes(sigma, radius):
    """Is the separable blur two 1-D passes, and does its kernel sum to 1?"""
    image = np.random.default_rng(4).normal(size=(15, 12))
    g = ref.gaussian_kernel_1d(sigma, radius)
    assert g.shape == (2 * radius + 1,) and abs(g.sum() - 1) < 1e-12
    two_pass = scipy.signal.correlate2d(
        scipy.signal.correlate2d(image, g[None, :], mode="valid"), g[:, None], mode="valid"
    )
    np.testing.assert_allclose(ref.separable_blur(image, sigma, radius), two_pass, atol=1e-12)
