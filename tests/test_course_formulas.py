"""The formulas the lectures state, asserted against Keras (kept fast: no training)."""

import itertools
import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")


def conv_output_size(n, f, padding=0, stride=1, dilation=1):
    """The lectures' formula: floor((n + 2p - d(f - 1) - 1) / s) + 1; "same" gives ceil(n / s)."""
    if padding == "same":
        return math.ceil(n / stride)
    p = 0 if padding == "valid" else padding
    return (n + 2 * p - dilation * (f - 1) - 1) // stride + 1


def conv_params(f_h, f_w, d_in, k, bias=True):
    """(F_h * F_w * D_in + 1) * K."""
    return (f_h * f_w * d_in + int(bias)) * k


CASES = [
    (n, f, padding, s, d)
    for n, f, padding, s, d in itertools.product(
        [5, 7, 8, 13, 32], [1, 2, 3, 5], ["valid", "same"], [1, 2, 3], [1, 2, 3]
    )
    if (s == 1 or d == 1) and (padding == "same" or d * (f - 1) + 1 <= n)
]


def test_output_size_formula_matches_conv2d():
    """Does floor((n + 2p - d(f-1) - 1)/s) + 1 (ceil(n/s) for "same") match Conv2D on every case?"""
    wrong = []
    for n, f, padding, s, d in CASES:
        layer = keras.layers.Conv2D(1, f, strides=s, padding=padding, dilation_rate=d)
        got = layer.compute_output_shape((1, n, n, 2))[1]
        if got != conv_output_size(n, f, padding, s, d):
            wrong.append((n, f, padding, s, d, got))
    assert len(CASES) > 150 and not wrong


def test_output_size_with_explicit_padding_on_real_tensors():
    """Does ZeroPadding2D(p) + a valid Conv2D give the formula's size in a real forward pass?"""
    for n, f, p, s in [(32, 5, 2, 1), (7, 3, 1, 2), (7, 3, 0, 3), (10, 4, 1, 3), (28, 5, 2, 2)]:
        model = keras.Sequential(
            [
                keras.Input((n, n, 1)),
                keras.layers.ZeroPadding2D(p),
                keras.layers.Conv2D(1, f, strides=s),
            ]
        )
        y = model(np.zeros((1, n, n, 1), "float32"))
        assert tuple(y.shape) == (1, conv_output_size(n, f, p, s), conv_output_size(n, f, p, s), 1)


def test_seven_by_seven_stride_three_does_not_fit():
    """Does a 3x3 filter with stride 3 on 7x7 give (7-3)/3+1 = 2.33, floored to 2 by Keras?"""
    assert (7 - 3) / 3 + 1 == pytest.approx(2.333, abs=1e-3)
    assert keras.layers.Conv2D(1, 3, strides=3).compute_output_shape((1, 7, 7, 1))[1] == 2


@pytest.mark.parametrize("f,d_in,k", [(5, 3, 10), (3, 64, 128), (1, 256, 32), (7, 1, 6)])
def test_conv_parameter_count(f, d_in, k):
    """Does (F*F*D + 1)*K equal Conv2D's count_params(), and F*F*D*K without bias?"""
    with_bias = keras.Sequential(
        [keras.Input((16, 16, d_in)), keras.layers.Conv2D(k, f, padding="same")]
    )
    no_bias = keras.Sequential(
        [keras.Input((16, 16, d_in)), keras.layers.Conv2D(k, f, padding="same", use_bias=False)]
    )
    assert with_bias.count_params() == conv_params(f, f, d_in, k)
    assert no_bias.count_params() == conv_params(f, f, d_in, k, bias=False)


def test_the_760_example():
    """Do ten 5x5 filters with pad 2 on 32x32x3 give 32x32x10 and 760 parameters?"""
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.ZeroPadding2D(2), keras.layers.Conv2D(10, 5)]
    )
    assert tuple(model.compute_output_shape((None, 32, 32, 3))) == (None, 32, 32, 10)
    assert model.count_params() == conv_params(5, 5, 3, 10) == 760


def test_dense_on_a_photo():
    """Does a 10-unit dense layer on a flattened 640x480 RGB photo have 640*480*3*10 + 10 parameters?"""
    assert 640 * 480 * 3 * 10 + 10 == 9_216_010
    # Keras' own count, on a small stand-in of the same formula (no 37 MB allocation needed)
    dense = keras.Sequential([keras.Input((64 * 48 * 3,)), keras.layers.Dense(10)])
    assert dense.count_params() == 64 * 48 * 3 * 10 + 10


@pytest.mark.parametrize(
    "n,f,s,padding",
    [
        (4, 2, 2, "valid"),
        (224, 2, 2, "valid"),
        (55, 3, 2, "valid"),
        (7, 2, 2, "valid"),
        (5, 2, 2, "same"),
        (32, 3, 1, "valid"),
    ],
)
def test_pooling_output_size_and_no_parameters(n, f, s, padding):
    """Does (W - F)/S + 1 (ceil(W/S) for "same") match MaxPooling2D and AveragePooling2D, with depth kept and no parameters?"""
    expected = conv_output_size(n, f, padding, s)
    for cls in (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D):
        model = keras.Sequential(
            [keras.Input((n, n, 8)), cls(pool_size=f, strides=s, padding=padding)]
        )
        assert tuple(model.compute_output_shape((None, n, n, 8))) == (None, expected, expected, 8)
        assert model.count_params() == 0


def test_pooling_values_on_the_4x4_example():
    """Does 2x2 max pooling of the lecture's 4x4 example give [[6, 8], [3, 4]] and average [[3.25, 5.25], [2, 2]]?"""
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], "float32").reshape(
        1, 4, 4, 1
    )
    assert np.asarray(keras.layers.MaxPooling2D(pool_size=2)(x))[0, :, :, 0].tolist() == [
        [6, 8],
        [3, 4],
    ]
    np.testing.assert_allclose(
        np.asarray(keras.layers.AveragePooling2D(pool_size=2)(x))[0, :, :, 0],
        [[3.25, 5.25], [2, 2]],
    )


def test_lenet_has_61706_parameters_and_the_hand_shapes():
    """Does LeNet on 32x32x1 have the hand-computed shapes and 61,706 parameters?"""
    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Conv2D(6, 5, activation="tanh"),
            keras.layers.AveragePooling2D(pool_size=2),
            keras.layers.Conv2D(16, 5, activation="tanh"),
            keras.layers.AveragePooling2D(pool_size=2),
            keras.layers.Flatten(),
            keras.layers.Dense(120, activation="tanh"),
            keras.layers.Dense(84, activation="tanh"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers]
    assert shapes == [
        (28, 28, 6),
        (14, 14, 6),
        (10, 10, 16),
        (5, 5, 16),
        (400,),
        (120,),
        (84,),
        (10,),
    ]
    assert [layer.count_params() for layer in model.layers] == [
        156,
        0,
        2416,
        0,
        0,
        48120,
        10164,
        850,
    ]
    assert model.count_params() == 61_706


def _count(layers, c_in, n=9):
    inp = keras.Input((n, n, c_in))
    h = inp
    for layer in layers:
        h = layer(h)
    return keras.Model(inp, h).count_params()


def test_factorised_convolutions_save_what_the_lecture_says():
    """Do 3x3+3x3 (for 5x5) and 7x1+1x7 (for 7x7) have the counts and savings of the formulas?"""
    c = 32
    same = dict(padding="same")
    five = _count([keras.layers.Conv2D(c, 5, **same)], c)
    two_threes = _count([keras.layers.Conv2D(c, 3, **same), keras.layers.Conv2D(c, 3, **same)], c)
    seven = _count([keras.layers.Conv2D(c, 7, **same)], c)
    asym = _count(
        [keras.layers.Conv2D(c, (7, 1), **same), keras.layers.Conv2D(c, (1, 7), **same)], c
    )
    assert five == conv_params(5, 5, c, c) and two_threes == 2 * conv_params(3, 3, c, c)
    assert seven == conv_params(7, 7, c, c) and asym == conv_params(7, 1, c, c) + conv_params(
        1, 7, c, c
    )
    assert 1 - (2 * 9) / 25 == pytest.approx(0.28) and two_threes < five
    assert asym / seven == pytest.approx((2 * 7 * c + 2) / (49 * c + 1))


def test_bottleneck_saving():
    """Does a 1x1 bottleneck 256 -> 32 before 64 5x5 filters cut 409,664 parameters to 59,488?"""
    direct = _count([keras.layers.Conv2D(64, 5, padding="same")], 256)
    bottleneck = _count(
        [keras.layers.Conv2D(32, 1), keras.layers.Conv2D(64, 5, padding="same")], 256
    )
    assert direct == 409_664 and bottleneck == 59_488


def test_separable_gaussian_equals_2d_blur():
    """Do a horizontal then a vertical 1-D Gaussian pass equal the 2-D Gaussian blur, also as Keras convolutions?"""
    from scipy import ndimage

    g = np.exp(-(np.arange(-6, 7) ** 2) / (2 * 2.0**2))
    g /= g.sum()
    img = np.random.default_rng(0).random((40, 50))
    blur_2d = ndimage.correlate(img, np.outer(g, g), mode="reflect")
    blur_sep = ndimage.correlate1d(
        ndimage.correlate1d(img, g, axis=1, mode="reflect"), g, axis=0, mode="reflect"
    )
    np.testing.assert_allclose(blur_sep, blur_2d, atol=1e-12)

    # the same with Keras layers: a 13x1 and a 1x13 convolution equal one 13x13 convolution
    x = img[None, :, :, None].astype("float32")
    k2d = keras.layers.Conv2D(1, 13, use_bias=False)
    k2d.build(x.shape)
    k2d.set_weights([np.outer(g, g)[:, :, None, None].astype("float32")])
    kv, kh = (
        keras.layers.Conv2D(1, (13, 1), use_bias=False),
        keras.layers.Conv2D(1, (1, 13), use_bias=False),
    )
    kh.build(x.shape)
    kh.set_weights([g[None, :, None, None].astype("float32")])
    kv.build((1, 40, 38, 1))
    kv.set_weights([g[:, None, None, None].astype("float32")])
    np.testing.assert_allclose(np.asarray(kv(kh(x))), np.asarray(k2d(x)), atol=1e-5)


def test_receptive_field_formula():
    """Does r_l = r_{l-1} + d(f-1)j, j_l = j s give 3,5,7 for stacked 3x3 and 15 for three stride-2 3x3 layers?"""

    def receptive_field(spec):
        r, j = 1, 1
        for f, s, d in spec:
            r += d * (f - 1) * j
            j *= s
        return r

    assert [receptive_field([(3, 1, 1)] * k) for k in (1, 2, 3)] == [3, 5, 7]
    assert receptive_field([(3, 2, 1)] * 3) == 15
    assert receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]) == 15
    # by experiment: an all-ones 1-D stack; count the inputs that reach the centre output
    n = 41
    model = keras.Sequential(
        [keras.Input((n, 1, 1))]
        + [
            keras.layers.Conv2D(
                1, (3, 1), strides=(2, 1), padding="same", kernel_initializer="ones", use_bias=False
            )
            for _ in range(3)
        ]
    )
    out = np.asarray(model(np.eye(n, dtype="float32").reshape(n, n, 1, 1)))[:, :, 0, 0]
    assert int((out[:, out.shape[1] // 2] != 0).sum()) == 15
