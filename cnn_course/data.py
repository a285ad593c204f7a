"""Offline-first data: everything here works with no network."""

from __future__ import annotations

import numpy as np

__all__ = [
    "DEFAULT_SHAPES",
    "SHAPE_CLASSES",
    "SHORTCUT_CLASSES",
    "SHORTCUT_CUES",
    "SOURCE_CLASSES",
    "TEXTURES",
    "TEXTURE_KINDS",
    "load_cifar10",
    "load_digits",
    "load_mnist",
    "load_photo",
    "load_shapes",
    "load_shortcut",
    "load_source_task",
    "load_texture",
    "shortcut_test_sets",
    "train_test_split",
]

_PHOTOS = ("camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon")


def load_photo(name: str = "camera", gray: bool = True, size: int | None = None) -> np.ndarray:
    """A photo bundled with scikit-image, as float32 in [0, 1].

    ``gray=True`` gives ``(H, W)``, otherwise ``(H, W, 3)``; ``size`` resizes the
    shorter side to ``size`` pixels (keeps the demos fast).
    """
    import skimage.color
    import skimage.data
    import skimage.transform

    if name not in _PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose one of {', '.join(_PHOTOS)}")
    img = np.asarray(getattr(skimage.data, name)(), dtype=np.float32)
    if img.max() > 1.0:
        img /= 255.0
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    if gray and img.ndim == 3:
        img = skimage.color.rgb2gray(img).astype(np.float32)
    if not gray and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if size is not None:
        scale = size / min(img.shape[:2])
        shape = (round(img.shape[0] * scale), round(img.shape[1] * scale)) + img.shape[2:]
        img = skimage.transform.resize(img, shape, anti_aliasing=True).astype(np.float32)
    return img


TEXTURES: tuple[str, ...] = (
    "brick",
    "grass",
    "gravel",
    "immunohistochemistry",
    "hubble_deep_field",
)
"""Texture images bundled with scikit-image (the first three are grey); ``load_texture`` also takes photo names."""


def load_texture(name: str = "brick", size: int = 128) -> np.ndarray:
    """A texture or photo bundled with scikit-image as a square RGB image: ``(size, size, 3)`` float32 in [0, 1].

    ``name`` is one of ``TEXTURES`` (``"brick"``, ``"grass"``, ``"gravel"``: grey
    textures, repeated over the three channels; ``"immunohistochemistry"``,
    ``"hubble_deep_field"``: colour) or of the photos of ``load_photo``. The
    central square of the image is resized to ``size x size`` (with
    anti-aliasing): style images for style transfer, textures for filter demos.
    Works offline (the files ship with scikit-image).
    """
    import skimage.data
    import skimage.transform

    if name in _PHOTOS:
        img = load_photo(name, gray=False)
    elif name in TEXTURES:
        img = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        img = img[..., :3]
    else:
        choices = ", ".join(TEXTURES + _PHOTOS)
        raise ValueError(f"unknown texture {name!r}; choose one of {choices}")
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = img[top : top + side, left : left + side]  # (side, side, 3)
    img = skimage.transform.resize(img, (size, size, 3), anti_aliasing=True)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- digits


def load_digits(size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits (8x8), resized to ``size x size``.

    Returns ``(x, y)``: ``x`` float32 in [0, 1] with shape ``(1797, size, size, 1)``
    (NHWC, one channel), ``y`` int64 labels 0-9. The set ships with scikit-learn,
    so it works offline; ``size=28`` mimics MNIST, ``size=32`` fits LeNet.
    """
    import scipy.ndimage
    import sklearn.datasets

    digits = sklearn.datasets.load_digits()
    x = digits.images.astype(np.float32) / 16.0  # (N, 8, 8), pixel values 0..16
    if size != 8:
        x = scipy.ndimage.zoom(x, (1, size / 8, size / 8), order=1, grid_mode=True, mode="nearest")
    x = np.clip(x, 0.0, 1.0).astype(np.float32)[..., None]
    return x, digits.target.astype(np.int64)


def train_test_split(
    x: np.ndarray, y: np.ndarray, test_size: float = 0.2, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A seeded, stratified split, returned as ``(x_train, y_train), (x_test, y_test)``.

    Same layout as ``keras.datasets.*.load_data()``. Every class keeps the same
    share ``test_size`` in the test part; the same ``seed`` gives the same split.
    """
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        test[idx[: round(len(idx) * test_size)]] = True
    train_idx, test_idx = (
        rng.permutation(np.flatnonzero(~test)),
        rng.permutation(np.flatnonzero(test)),
    )
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])


# --------------------------------------------------------------------------- shapes

SHAPE_CLASSES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "cross",
    "ring", "frame", "bar", "crescent", "heart",
)  # fmt: skip
"""Names of the procedurally drawn classes; ``load_shapes`` label ``k`` is ``SHAPE_CLASSES[k]``
when ``classes`` is an int (the first ``classes`` names)."""

DEFAULT_SHAPES = 6  # circle, square, triangle, star, cross, ring


def _shape_mask(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test for one class in shape-local coordinates (unit circumradius)."""
    rho = np.sqrt(u * u + v * v)
    if name == "circle":
        return rho <= 0.85
    if name == "square":
        return np.maximum(abs(u), abs(v)) <= 0.7
    if name == "triangle":  # regular polygon as the intersection of 3 half-planes
        inside = np.ones(u.shape, dtype=bool)
        for k in range(3):
            phi = 2 * np.pi * k / 3 + np.pi / 2
            inside &= u * np.cos(phi) + v * np.sin(phi) <= 0.5
        return inside
    if name == "star":  # five sharp points
        alpha = np.arctan2(v, u)
        return rho <= 0.35 + 0.65 * ((1 + np.cos(5 * alpha)) / 2) ** 4
    if name == "cross":
        return ((abs(u) <= 0.25) & (abs(v) <= 0.9)) | ((abs(v) <= 0.25) & (abs(u) <= 0.9))
    if name == "ring":
        return (rho <= 0.9) & (rho >= 0.55)
    if name == "frame":
        m = np.maximum(abs(u), abs(v))
        return (m <= 0.72) & (m >= 0.42)
    if name == "bar":
        return (abs(u) <= 0.95) & (abs(v) <= 0.22)
    if name == "crescent":
        return (rho <= 0.9) & (np.hypot(u - 0.45, v) >= 0.7)
    if name == "heart":
        a, b = u * 1.25, -v * 1.25 + 0.25
        return (a**2 + b**2 - 1) ** 3 - a**2 * b**3 <= 0
    raise ValueError(f"unknown shape {name!r}; choose from {', '.join(SHAPE_CLASSES)}")


def _shape_masks(
    rng: np.random.Generator, y: np.ndarray, names: list[str], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Masks ``(n, size, size)`` of shapes ``names[y]`` with random radius, position and rotation.

    Also returns the centres ``(n, 2)`` as ``(x, y)`` pixel coordinates. Every shape
    lies within its radius of its centre, and the centre stays a radius away from
    the edges, so the image corners are always background.
    """
    n = len(y)
    # Per-image geometry, in pixels: radius, centre (kept inside the frame), rotation.
    radius = rng.uniform(0.22, 0.42, n) * size
    cx = rng.uniform(radius, size - radius)
    cy = rng.uniform(radius, size - radius)
    theta = rng.uniform(0, 2 * np.pi, n)
    grid = np.arange(size, dtype=np.float32) + 0.5
    dx = grid[None, None, :] - cx[:, None, None].astype(np.float32)  # (n, 1, W)
    dy = grid[None, :, None] - cy[:, None, None].astype(np.float32)  # (n, H, 1)
    c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    r = radius[:, None, None]
    u = ((c * dx + s * dy) / r).astype(np.float32)  # (n, H, W) shape-local coordinates
    v = ((-s * dx + c * dy) / r).astype(np.float32)

    mask = np.zeros((n, size, size), dtype=bool)
    for k, name in enumerate(names):
        idx = np.flatnonzero(y == k)
        mask[idx] = _shape_mask(name, u[idx], v[idx])
    return mask, np.stack([cx, cy], axis=1)


def load_shapes(
    n: int = 3000,
    size: int = 32,
    seed: int = 0,
    classes: int | tuple[str, ...] | list[str] = DEFAULT_SHAPES,
    noise: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, class-balanced set of drawn shapes: ``x`` (n, size, size, 3) float32 in [0, 1], ``y`` int64.

    Each image holds one shape (``classes`` = the first k names of
    ``SHAPE_CLASSES``, or a list of names; label = index in that list) of random
    colour, position, size and rotation on a random flat background, with a random
    light/dark polarity and Gaussian pixel noise of std ``noise``. Classes are
    balanced (counts differ by at most one) and the same ``seed`` gives the same
    images. Drawing is vectorised: 3,000 images take about 0.1 s.

    Difficulty, measured with the defaults (6 classes; seed 0, first 3,000 images to
    train, next 1,000 to test; 2 CPU cores): logistic regression on the flattened
    pixels (scikit-learn, C=0.01) reaches 0.19 test accuracy (0.65 on its training
    set; chance is 0.17), while a 66,534-parameter CNN
    [(Conv3x3-BN-ReLU)x2-MaxPool-Dropout(0.2)]x2 with 32 then 64 filters, then
    GlobalAveragePooling-Dense(softmax), trained with Adam(learning_rate=3e-3),
    batch 64, reaches 0.75 test accuracy after 5 epochs and 0.87-0.95 after 8
    (about 15 s per epoch). A model that ignores its input scores 0.17.
    """
    names = list(SHAPE_CLASSES[:classes]) if isinstance(classes, int) else list(classes)
    if not 1 <= len(names) <= len(SHAPE_CLASSES):
        raise ValueError(f"classes must name 1 to {len(SHAPE_CLASSES)} shapes")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(names)).astype(np.int64)

    mask, _ = _shape_masks(rng, y, names, size)  # (n, H, W) bool

    # Colours: background and shape differ in brightness by at least 0.35, either way round.
    bg_level = rng.uniform(0.0, 0.45, n)
    fg_level = bg_level + rng.uniform(0.35, 0.55, n)
    flip = rng.random(n) < 0.5  # dark shape on a light background
    bg_level, fg_level = (
        np.where(flip, 1 - bg_level, bg_level),
        np.where(flip, 1 - fg_level, fg_level),
    )
    bg = np.clip(bg_level[:, None] + rng.uniform(-0.15, 0.15, (n, 3)), 0, 1)
    fg = np.clip(fg_level[:, None] + rng.uniform(-0.25, 0.25, (n, 3)), 0, 1)
    x = np.where(mask[..., None], fg[:, None, None, :], bg[:, None, None, :]).astype(np.float32)
    if noise > 0:
        x += rng.normal(0.0, noise, x.shape).astype(np.float32)
    return np.clip(x, 0.0, 1.0, out=x), y


# --------------------------------------------------------------------------- source task

TEXTURE_KINDS: tuple[str, ...] = ("stripes", "checks", "dots", "waves")
"""Procedural textures: classes of the source task, and fills/backgrounds of its shapes."""

SOURCE_CLASSES: tuple[str, ...] = SHAPE_CLASSES + TEXTURE_KINDS
"""The 14 classes of ``load_source_task``: the 10 shapes of ``SHAPE_CLASSES``, then 4 textures."""


def _pattern(kind: str, rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``n`` random two-level patterns of one kind, ``(n, size, size)`` float32 in [0, 1].

    Period 3-8 pixels, random orientation and phase. ``"noise"`` (per-pixel speckle)
    is used only as a fill, never as a class.
    """
    period = rng.uniform(3.0, 8.0, n).astype(np.float32)[:, None, None]
    angle = rng.uniform(0, np.pi, n).astype(np.float32)[:, None, None]
    phase = rng.uniform(0, 1, (2, n)).astype(np.float32)[:, :, None, None]
    grid = np.arange(size, dtype=np.float32) + 0.5
    gx, gy = grid[None, None, :], grid[None, :, None]
    t1 = (np.cos(angle) * gx + np.sin(angle) * gy) / period + phase[0]  # (n, H, W)
    t2 = (-np.sin(angle) * gx + np.cos(angle) * gy) / period + phase[1]
    if kind == "stripes":
        p = (t1 % 1.0) < 0.5
    elif kind == "checks":
        p = (np.floor(t1) + np.floor(t2)) % 2 == 0
    elif kind == "dots":
        radius = rng.uniform(0.2, 0.35, n).astype(np.float32)[:, None, None]
        p = np.hypot(t1 % 1.0 - 0.5, t2 % 1.0 - 0.5) < radius
    elif kind == "waves":  # stripes bent by a sine across them
        amp = rng.uniform(0.3, 0.6, n).astype(np.float32)[:, None, None]
        p = ((t1 + amp * np.sin(2 * np.pi * t2 / 3.0)) % 1.0) < 0.5
    elif kind == "noise":
        p = rng.random((n, size, size)) < 0.5
    else:
        raise ValueError(f"unknown pattern {kind!r}")
    return p.astype(np.float32)


def _two_colours(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random RGB pairs ``(a, b)``, each ``(n, 3)``, whose brightness differs by 0.35-0.55, either way round."""
    level_a = rng.uniform(0.0, 0.45, n)
    level_b = level_a + rng.uniform(0.35, 0.55, n)
    flip = rng.random(n) < 0.5
    level_a, level_b = np.where(flip, 1 - level_a, level_a), np.where(flip, 1 - level_b, level_b)
    a = np.clip(level_a[:, None] + rng.uniform(-0.15, 0.15, (n, 3)), 0, 1)
    b = np.clip(level_b[:, None] + rng.uniform(-0.25, 0.25, (n, 3)), 0, 1)
    return a.astype(np.float32), b.astype(np.float32)


def _textured(rng: np.random.Generator, colour: np.ndarray, size: int, share: float) -> np.ndarray:
    """Flat colours ``(n, 3)`` made into ``(n, size, size, 3)`` images, a share of them textured.

    A textured image adds a random pattern (stripes, checks, dots, waves or noise)
    of amplitude 0.1-0.25, so it stays closer to its own colour than to the other
    region's (which differs by at least 0.35 in brightness).
    """
    n = len(colour)
    kinds = TEXTURE_KINDS + ("noise",)
    kind = rng.integers(0, len(kinds), n)
    on = rng.random(n) < share
    amp = rng.uniform(0.1, 0.25, n).astype(np.float32)
    img = np.broadcast_to(colour[:, None, None, :], (n, size, size, 3)).copy()
    for k, name in enumerate(kinds):
        idx = np.flatnonzero(on & (kind == k))
        p = _pattern(name, rng, len(idx), size)  # (m, H, W)
        img[idx] += (amp[idx, None, None] * (p - 0.5))[..., None]
    return img


def load_source_task(
    n: int = 20000, seed: int = 0, size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """The pretraining task of ``cnn_course.models.pretrained_base``: ``x`` (n, size, size, 3) float32 in [0, 1], ``y`` int64.

    14 classes, ``SOURCE_CLASSES``: the 10 shapes of ``SHAPE_CLASSES`` (drawn as in
    ``load_shapes``: random position, size, rotation and colours, the shape and the
    background differing by at least 0.35 in brightness), each region flat or,
    with probability 1/2, overlaid with a faint random texture (stripes, checks,
    dots, waves or speckle); then 4 texture classes (``"stripes"``, ``"checks"``,
    ``"dots"``, ``"waves"``) filling the whole image in two contrasting colours,
    with random period (3-8 pixels), orientation and phase. Gaussian pixel noise of
    std 0.05 on everything. So a network that solves it needs edges, colours,
    corners and textures: useful first-layer filters for later lectures.

    Seeded (the same ``seed`` gives the same images), class-balanced (counts differ
    by at most one) and vectorised: 10,000 images at 32x32 take 2-4 s.
    """
    rng = np.random.default_rng(seed)
    n_shape = len(SHAPE_CLASSES)
    y = rng.permutation(np.arange(n) % len(SOURCE_CLASSES)).astype(np.int64)
    x = np.empty((n, size, size, 3), dtype=np.float32)

    is_shape = y < n_shape
    shape_idx = np.flatnonzero(is_shape)
    if len(shape_idx):
        names = [SHAPE_CLASSES[k] for k in range(n_shape)]
        mask, _ = _shape_masks(rng, y[shape_idx], names, size)  # (m, H, W)
        fg, bg = _two_colours(rng, len(shape_idx))
        fg_img = _textured(rng, fg, size, share=0.5)
        bg_img = _textured(rng, bg, size, share=0.5)
        x[shape_idx] = np.where(mask[..., None], fg_img, bg_img)

    tex_idx = np.flatnonzero(~is_shape)
    if len(tex_idx):
        a, b = _two_colours(rng, len(tex_idx))
        for k, name in enumerate(TEXTURE_KINDS):
            sel = y[tex_idx] == n_shape + k
            p = _pattern(name, rng, int(sel.sum()), size)[..., None]  # (m, H, W, 1)
            x[tex_idx[sel]] = a[sel, None, None, :] * (1 - p) + b[sel, None, None, :] * p

    x += 0.05 * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(x, 0.0, 1.0, out=x), y


# --------------------------------------------------------------------------- shortcut learning

SHORTCUT_CLASSES: tuple[str, ...] = ("circle", "square")
"""The two classes of ``load_shortcut``: label 0 is a circle, label 1 a square."""

SHORTCUT_CUES: tuple[str, ...] = ("marker", "background")


def _agreeing(rng: np.random.Generator, y: np.ndarray, aligned: float) -> np.ndarray:
    """A bool mask choosing, in each class, exactly ``round(aligned * count)`` images at random."""
    key = rng.random(len(y))  # drawn whatever ``aligned`` is, so the rest of the stream is shared
    agree = np.zeros(len(y), dtype=bool)
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)
        agree[idx[np.argsort(key[idx])[: round(aligned * len(idx))]]] = True
    return agree


def load_shortcut(
    cue: str = "marker",
    n: int = 2000,
    aligned: float | None = 0.95,
    seed: int = 0,
    size: int = 32,
    return_cue: bool = False,
) -> tuple[np.ndarray, ...]:
    """A two-class task with a spurious cue: ``x`` (n, size, size, 3) float32 in [0, 1], ``y`` int64.

    The classes are ``SHORTCUT_CLASSES``: a circle (label 0) or a square (label 1)
    of random size, position, rotation and shade, placed as in ``load_shapes``.
    Telling them apart takes a small CNN several epochs. Each image also carries
    a cue that points to one class, which is much easier to see:

    - ``cue="marker"`` (the tanks story): a grey shape on light plain "paper"; a
      small pencil-like cross (a 5x5 near-black "x", 1 pixel wide) in the corner
      farthest from the shape (off the shape, for ``size`` >= 24) means label 1,
      no cross means label 0.
    - ``cue="background"`` (the huskies-on-snow story): a dark shape on "snow"
      (bright bluish white) means label 0, on "grass" (green) label 1; both
      backgrounds are speckled.

    ``aligned`` is the fraction of images whose cue agrees with their label,
    exactly ``round(aligned * count)`` images of each class: 1.0 gives an aligned
    test set, 0.0 a swapped one (crosses on circles, squares on snow) and
    ``None`` removes the cue (no cross; a neutral grey background). For one
    ``seed`` the shapes, their colours and the noise do not depend on ``aligned``,
    so the three versions are the same images but for the cue (see
    ``shortcut_test_sets``). Classes are balanced (counts differ by at most one).
    With ``return_cue=True`` it also returns ``cue_label`` (n,) int64: the class
    the cue points to, or -1 where the cue is removed.

    Measured on the 2-core CPU machine: a small CNN (3x3 convolutions with 16, 32,
    32 filters and ReLU, a 2x2 max pool after the first two, global average
    pooling, a softmax layer: 14,402 parameters; Adam, learning rate 3e-3, batch
    64) trained on ``load_shortcut(cue, 2000, aligned, seed=0)``, accuracy on
    ``shortcut_test_sets(cue, 1000, seed=1)`` given as aligned / swapped / removed:

    - marker, ``aligned=0.95``: 0.996 / 0.011 / 0.506 after 2 epochs (0.50 on all
      three after 1), still 1.000 / 0.001 / 0.500 after 12: the cross is all it uses.
    - marker, ``aligned=0.5``: 0.50 on all three for 5 epochs, then the shape is
      learnt: 0.849 / 0.810 / 0.839 after 12 epochs. The gap is closed.
    - background, ``aligned=0.95``: 1.000 / 0.000 / 0.487 after 1 epoch and
      1.000 / 0.000 / 0.500 after 10: it never looks at the shape.
    - background, ``aligned=0.5``: 0.714 / 0.678 / 0.862 after 10 epochs (0.60 /
      0.60 / 0.57 after 6): a gap of 0.04 instead of 1.0.

    Generating 2,000 images takes about 1 s on a busy 2-core machine.
    """
    if cue not in SHORTCUT_CUES:
        raise ValueError(f"unknown cue {cue!r}; choose one of {', '.join(SHORTCUT_CUES)}")
    if aligned is not None and not 0.0 <= aligned <= 1.0:
        raise ValueError("aligned must be in [0, 1], or None to remove the cue")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2).astype(np.int64)
    agree = _agreeing(rng, y, 0.0 if aligned is None else aligned)
    cue_label = np.where(agree, y, 1 - y) if aligned is not None else np.full(n, -1)
    mask, centre = _shape_masks(rng, y, list(SHORTCUT_CLASSES), size)  # (n, H, W), (n, 2)

    # Every random draw below happens whatever the cue is set to.
    shape_rgb = rng.uniform(0.0, 0.25, n)[:, None] + rng.uniform(-0.08, 0.08, (n, 3))
    paper = rng.uniform(0.65, 0.95, n)[:, None] + rng.uniform(-0.05, 0.05, (n, 3))
    ink = paper - rng.uniform(0.4, 0.55, n)[:, None]  # grey shapes, mostly lighter than the pencil
    pencil = rng.uniform(0.0, 0.15, n)
    snow = rng.uniform(0.85, 0.95, n)[:, None] + np.array([-0.04, 0.0, 0.04])
    grass = np.stack(
        [rng.uniform(0.3, 0.45, n), rng.uniform(0.6, 0.75, n), rng.uniform(0.15, 0.3, n)], axis=1
    )
    grey = rng.uniform(0.5, 0.7, n)[:, None] + rng.uniform(-0.03, 0.03, (n, 3))
    speckle = rng.uniform(-0.08, 0.08, (n, size, size, 1)).astype(np.float32)
    jitter = rng.integers(1, 4, (n, 2))  # the cross's distance from the image edges
    noise = 0.04 * rng.standard_normal((n, size, size, 3), dtype=np.float32)

    if cue == "marker":
        bg = np.broadcast_to(paper[:, None, None, :], (n, size, size, 3)).astype(np.float32)
    else:
        colour = np.where(cue_label[:, None] == 0, snow, grass)
        colour = np.where(cue_label[:, None] == -1, grey, colour)
        bg = colour[:, None, None, :].astype(np.float32) + speckle
    fg = (ink if cue == "marker" else shape_rgb)[:, None, None, :].astype(np.float32)
    x = np.where(mask[..., None], fg, bg)

    if cue == "marker":  # a 5x5 "x" in the corner farthest from the shape's centre
        arm = np.arange(5)
        for i in np.flatnonzero(cue_label == 1):
            far_x, far_y = centre[i] < size / 2  # shape on the left: cross on the right
            for j in (jitter[i], (0, 0)):  # into the very corner if it would touch the shape
                col = size - 5 - j[0] if far_x else j[0]
                row = size - 5 - j[1] if far_y else j[1]
                if not mask[i, row : row + 5, col : col + 5].any():
                    break
            x[i, row + arm, col + arm] = pencil[i]
            x[i, row + arm, col + 4 - arm] = pencil[i]
    x += noise
    x = np.clip(x, 0.0, 1.0, out=x)
    return (x, y, cue_label) if return_cue else (x, y)


def shortcut_test_sets(
    cue: str = "marker", n: int = 1000, seed: int = 1, size: int = 32
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Three test sets of the same images: ``{"aligned", "swapped", "removed"}`` -> ``(x, y)``.

    ``load_shortcut(cue, n, aligned, seed)`` with ``aligned`` = 1.0, 0.0 and
    ``None``: the shapes are identical, only the cue differs. A model that reads
    the shape scores the same on all three; one that reads the cue scores high on
    "aligned", low on "swapped" and near chance on "removed". Use a seed other
    than the training set's.
    """
    sets = {"aligned": 1.0, "swapped": 0.0, "removed": None}
    return {name: load_shortcut(cue, n, a, seed, size) for name, a in sets.items()}


# --------------------------------------------------------------------------- real data sets

_Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _keras_datasets_dir() -> str:
    import os

    return os.path.join(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras")), "datasets")


def _cached(*relpaths: str) -> bool:
    import os

    return any(os.path.exists(os.path.join(_keras_datasets_dir(), p)) for p in relpaths)


def _download_allowed() -> bool:
    import os

    return os.environ.get("CNN_COURSE_ALLOW_DOWNLOAD", "") == "1"


def _try_keras(name: str, cache: tuple[str, ...]) -> _Split | None:
    """``keras.datasets.<name>.load_data()`` when cached (or download allowed), else None."""
    if not (_cached(*cache) or _download_allowed()):
        return None
    import socket

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)  # a dead network fails fast instead of hanging
    try:
        import keras

        return getattr(keras.datasets, name).load_data()
    except Exception:
        return None
    finally:
        socket.setdefaulttimeout(old)


def load_mnist() -> _Split:
    """MNIST as ``(x_train, y_train), (x_test, y_test)``: x float32 in [0, 1], (N, 28, 28, 1); y int64.

    Uses ``keras.datasets.mnist`` when its file is in the Keras cache
    (``~/.keras/datasets/mnist.npz``), or when ``CNN_COURSE_ALLOW_DOWNLOAD=1``
    lets it download (15 s socket timeout). Otherwise prints one line and returns
    scikit-learn's digits resized to 28x28 (1,437 train / 360 test images), with
    the same shapes and dtypes. Never raises for lack of network.
    """
    data = _try_keras("mnist", ("mnist.npz",))
    if data is None:
        print("MNIST not available offline; using scikit-learn digits resized to 28x28 instead")
        return train_test_split(*load_digits(28), test_size=0.2, seed=0)
    (x_train, y_train), (x_test, y_test) = data
    prep = lambda x: (np.asarray(x, dtype=np.float32) / 255.0)[..., None]
    return (prep(x_train), np.asarray(y_train, np.int64)), (
        prep(x_test),
        np.asarray(y_test, np.int64),
    )


def load_cifar10() -> _Split:
    """CIFAR-10 as ``(x_train, y_train), (x_test, y_test)``: x float32 in [0, 1], (N, 32, 32, 3); y int64, shape (N,).

    Uses ``keras.datasets.cifar10`` when it is in the Keras cache or
    ``CNN_COURSE_ALLOW_DOWNLOAD=1``; otherwise prints one line and returns the
    10-class ``load_shapes`` set (5,000 train / 1,000 test images, class names in
    ``SHAPE_CLASSES``), with the same shapes and dtypes. Never raises for lack of network.
    """
    data = _try_keras(
        "cifar10", ("cifar-10-batches-py-target/cifar-10-batches-py", "cifar-10-batches-py")
    )
    if data is None:
        print("CIFAR-10 not available offline; using 10 procedurally drawn shape classes instead")
        x, y = load_shapes(6000, size=32, seed=0, classes=len(SHAPE_CLASSES))
        return (x[:5000], y[:5000]), (x[5000:], y[5000:])
    (x_train, y_train), (x_test, y_test) = data
    prep = lambda x: np.asarray(x, dtype=np.float32) / 255.0
    flat = lambda y: np.asarray(y, np.int64).reshape(-1)
    return (prep(x_train), flat(y_train)), (prep(x_test), flat(y_test))


# --------------------------------------------------------------------------- target task

TARGET_CLASSES: tuple[str, ...] = ("hexagon", "arrow", "L", "T", "half disc", "bow tie")
"""The six classes of ``load_target_task``: shapes that ``pretrained_base`` never saw (lecture 09's)."""

__all__ += ["TARGET_CLASSES", "load_target_task"]


def _target_mask(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test for one target class in shape-local coordinates (the shape fits in the unit circle)."""
    if name == "hexagon":
        return np.all(
            [u * np.cos(a) + v * np.sin(a) <= 0.8 for a in np.arange(6) * np.pi / 3], axis=0
        )
    if name == "arrow":
        return ((u >= -0.9) & (u <= 0.1) & (abs(v) <= 0.18)) | (
            (u >= 0.1) & (abs(v) <= 0.9 * (0.9 - u))
        )
    if name == "L":
        return ((u >= -0.75) & (u <= -0.35) & (abs(v) <= 0.85)) | (
            (abs(u) <= 0.75) & (v >= 0.45) & (v <= 0.85)
        )
    if name == "T":
        return ((abs(u) <= 0.85) & (v >= -0.85) & (v <= -0.45)) | (
            (abs(u) <= 0.2) & (v >= -0.45) & (v <= 0.85)
        )
    if name == "half disc":
        return (np.hypot(u, v) <= 0.9) & (v >= 0.0)
    if name == "bow tie":
        return (abs(u) <= 0.85) & (abs(v) <= 0.85 * abs(u) + 0.05)
    raise ValueError(f"unknown target shape {name!r}; choose from {', '.join(TARGET_CLASSES)}")


def load_target_task(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A transfer-learning target task: ``x`` (n, size, size, 3) float32 in [0, 1], ``y`` int64.

    Six shapes that are not source classes of ``pretrained_base`` (``TARGET_CLASSES``,
    the new shapes of lecture 09): one shape per image, random radius, position,
    rotation and colours (shape and background differ in brightness by 0.4-0.6,
    either way round), Gaussian pixel noise of std 0.05. Seeded and class-balanced
    (counts differ by at most one); vectorised.
    """
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(TARGET_CLASSES)).astype(np.int64)
    radius = rng.uniform(0.25, 0.42, n) * size  # pixels
    cx, cy = rng.uniform(radius, size - radius), rng.uniform(radius, size - radius)
    theta = rng.uniform(0, 2 * np.pi, n)
    grid = np.arange(size) + 0.5
    dx = grid[None, None, :] - cx[:, None, None]  # (n, 1, W)
    dy = grid[None, :, None] - cy[:, None, None]  # (n, H, 1)
    c, s, r = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None], radius[:, None, None]
    u, v = (c * dx + s * dy) / r, (-s * dx + c * dy) / r  # (n, H, W) shape-local coordinates
    mask = np.zeros((n, size, size), dtype=bool)
    for k, name in enumerate(TARGET_CLASSES):
        mask[y == k] = _target_mask(name, u[y == k], v[y == k])
    level = rng.uniform(0.0, 0.4, n)
    bg, fg = level, level + rng.uniform(0.4, 0.6, n)
    flip = rng.random(n) < 0.5
    bg, fg = np.where(flip, 1 - bg, bg), np.where(flip, 1 - fg, fg)
    bg = np.clip(bg[:, None] + rng.uniform(-0.15, 0.15, (n, 3)), 0, 1)  # (n, 3) colours
    fg = np.clip(fg[:, None] + rng.uniform(-0.25, 0.25, (n, 3)), 0, 1)
    x = np.where(mask[..., None], fg[:, None, None, :], bg[:, None, None, :])  # (n, H, W, 3)
    x = x + rng.normal(0.0, 0.05, x.shape)
    return np.clip(x, 0, 1).astype(np.float32), y
