"""Tests of the shortcut-learning data (``load_shortcut``), the source task and the textures in ``cnn_course.data``."""

import numpy as np
import pytest

from cnn_course import data


def _marker_boxes(x_cue: np.ndarray, x_removed: np.ndarray) -> np.ndarray:
    """Per image, the pixels where the two versions differ: ``(n, H, W)`` bool."""
    return np.abs(x_cue - x_removed).max(axis=-1) > 0


def _background_from_pixels(x: np.ndarray) -> np.ndarray:
    """Read the background cue from the 2x2 corners (never covered by the shape): 0 snow, 1 grass, -1 grey."""
    corners = np.concatenate(
        [x[:, :2, :2], x[:, :2, -2:], x[:, -2:, :2], x[:, -2:, -2:]], axis=1
    ).mean(axis=(1, 2))  # (n, 3)
    green = corners[:, 1] - (corners[:, 0] + corners[:, 2]) / 2
    snow = corners.mean(axis=1) > 0.79
    return np.where(green > 0.12, 1, np.where(snow, 0, -1))


@pytest.mark.parametrize("cue", data.SHORTCUT_CUES)
@pytest.mark.parametrize("aligned", [0.95, 0.5, None])
def test_shortcut_shapes_and_balance(cue, aligned):
    """Does load_shortcut give (n, 32, 32, 3) float32 in [0, 1] and two classes within one image of each other?"""
    x, y = data.load_shortcut(cue, n=301, aligned=aligned, seed=0)
    assert x.shape == (301, 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.issubdtype(y.dtype, np.integer) and set(np.unique(y)) == {0, 1}
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("cue", data.SHORTCUT_CUES)
def test_shortcut_is_deterministic(cue):
    """Does the same seed give the same images, and another seed other images?"""
    x1, y1 = data.load_shortcut(cue, n=80, seed=3)
    x2, y2 = data.load_shortcut(cue, n=80, seed=3)
    x3, _ = data.load_shortcut(cue, n=80, seed=4)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert np.abs(x1 - x3).mean() > 0.05


@pytest.mark.parametrize("cue", data.SHORTCUT_CUES)
@pytest.mark.parametrize("aligned", [1.0, 0.95, 0.8, 0.5, 0.0])
def test_shortcut_cue_rate_is_aligned(cue, aligned):
    """In each class, does the cue agree with the label in exactly round(aligned * count) images?"""
    _, y, cue_label = data.load_shortcut(cue, n=400, aligned=aligned, seed=1, return_cue=True)
    for k in (0, 1):
        agree = (cue_label[y == k] == k).sum()
        assert agree == round(aligned * (y == k).sum())
    assert set(np.unique(cue_label)) <= {0, 1}


def test_marker_is_a_small_cross_off_the_shape_on_the_marked_images_only():
    """Is the marker drawn exactly on the images whose cue says class 1, as a 5x5 cross in a corner, never on the shape?"""
    x, y, cue_label = data.load_shortcut("marker", n=300, aligned=0.9, seed=2, return_cue=True)
    x_removed, y_removed = data.load_shortcut("marker", n=300, aligned=None, seed=2)
    assert np.array_equal(y, y_removed)
    diff = _marker_boxes(x, x_removed)  # (n, H, W)
    marked = diff.any(axis=(1, 2))
    assert np.array_equal(marked, cue_label == 1)  # read from the pixels
    assert abs(marked[y == 1].mean() - 0.9) < 0.01 and abs(marked[y == 0].mean() - 0.1) < 0.01
    for i in np.flatnonzero(marked):
        rows, cols = np.nonzero(diff[i])
        assert len(rows) == 9  # two 5-pixel diagonals crossing in one pixel
        assert rows.max() - rows.min() == 4 and cols.max() - cols.min() == 4
        assert min(rows.min(), 31 - rows.max()) <= 3 and min(cols.min(), 31 - cols.max()) <= 3
        # under the cross, the unmarked image shows paper, the same colour as its corners
        paper = np.median(np.concatenate([x_removed[i, 0], x_removed[i, -1]]), axis=0)
        assert np.abs(x_removed[i, rows, cols].mean(axis=0) - paper).max() < 0.1
        assert x[i, rows, cols].mean() < paper.mean() - 0.25  # a dark pencil line


def test_background_cue_read_from_the_pixels():
    """Is the background snow for cue 0, grass for cue 1 and neutral grey with the cue removed?"""
    x, y, cue_label = data.load_shortcut("background", n=400, aligned=0.9, seed=5, return_cue=True)
    seen = _background_from_pixels(x)
    assert np.array_equal(seen, cue_label)
    assert abs((seen == y).mean() - 0.9) < 0.01
    x_removed, _ = data.load_shortcut("background", n=400, aligned=None, seed=5)
    assert (_background_from_pixels(x_removed) == -1).all()


@pytest.mark.parametrize("cue", data.SHORTCUT_CUES)
def test_removed_cue_carries_no_cue(cue):
    """With aligned=None, is every cue label -1 and is the image the same whatever cue rate was asked elsewhere?"""
    x, y, cue_label = data.load_shortcut(cue, n=200, aligned=None, seed=6, return_cue=True)
    assert (cue_label == -1).all()
    if cue == "marker":
        x_none_marked, _ = data.load_shortcut(cue, n=200, aligned=0.5, seed=6)
        diff = _marker_boxes(x_none_marked, x)
        assert diff.any(axis=(1, 2)).mean() == pytest.approx(0.5)  # the others are untouched
        assert diff.sum(axis=(1, 2)).max() == 9
    else:
        assert (_background_from_pixels(x) == -1).all()


@pytest.mark.parametrize("cue", data.SHORTCUT_CUES)
def test_shortcut_test_sets_share_the_shapes(cue):
    """Do the aligned, swapped and removed test sets hold the same shapes and labels, differing only in the cue?"""
    sets = data.shortcut_test_sets(cue, n=100, seed=7)
    assert set(sets) == {"aligned", "swapped", "removed"}
    (xa, ya), (xs, ys), (xr, yr) = sets["aligned"], sets["swapped"], sets["removed"]
    assert np.array_equal(ya, ys) and np.array_equal(ya, yr)
    if cue == "marker":  # crosses on squares, then on circles, then nowhere
        assert np.array_equal(_marker_boxes(xa, xr).any(axis=(1, 2)), ya == 1)
        assert np.array_equal(_marker_boxes(xs, xr).any(axis=(1, 2)), ya == 0)
    else:
        assert np.array_equal(_background_from_pixels(xa), ya)
        assert np.array_equal(_background_from_pixels(xs), 1 - ya)
        # the shape's pixels are identical in all three; every background pixel differs
        shape = (xa == xr).all(axis=-1)  # (n, H, W)
        assert np.array_equal(shape, (xs == xr).all(axis=-1))
        assert shape.sum(axis=(1, 2)).min() > 20 and shape.mean() < 0.5


def test_shortcut_rejects_bad_arguments():
    """Are an unknown cue and an aligned rate outside [0, 1] refused?"""
    with pytest.raises(ValueError):
        data.load_shortcut("pencil", n=10)
    with pytest.raises(ValueError):
        data.load_shortcut("marker", n=10, aligned=1.5)


def test_background_cue_is_learnt_instead_of_the_shape():
    """Does a classifier trained with the background 95% aligned score high with it aligned and low with it swapped?"""
    from sklearn.linear_model import LogisticRegression

    pool = lambda x: (
        x.reshape(len(x), 4, 8, 4, 8, 3).mean(axis=(2, 4)).reshape(len(x), -1)
    )  # (n, 48)
    x, y = data.load_shortcut("background", n=400, aligned=0.95, seed=0)
    clf = LogisticRegression(C=1.0, max_iter=500).fit(pool(x), y)
    sets = data.shortcut_test_sets("background", n=200, seed=1)
    acc = {k: clf.score(pool(xt), yt) for k, (xt, yt) in sets.items()}
    assert acc["aligned"] > 0.9 and acc["swapped"] < 0.2, acc


# --------------------------------------------------------------------------- source task, textures


def test_source_task_shapes_balance_and_determinism():
    """Does load_source_task give balanced (n, 32, 32, 3) images in [0, 1] over its 14 classes, the same for a seed?"""
    assert len(data.SOURCE_CLASSES) >= 10 and len(set(data.SOURCE_CLASSES)) == 14
    assert data.SOURCE_CLASSES[:10] == data.SHAPE_CLASSES
    x, y = data.load_source_task(281, seed=0)
    assert x.shape == (281, 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    counts = np.bincount(y, minlength=14)
    assert len(counts) == 14 and counts.max() - counts.min() <= 1
    x2, y2 = data.load_source_task(281, seed=0)
    x3, _ = data.load_source_task(281, seed=1)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert np.abs(x - x3).mean() > 0.05
    assert data.load_source_task(20, seed=0, size=48)[0].shape == (20, 48, 48, 3)


def test_source_task_textures_have_more_edges_than_shapes():
    """Do texture-class images hold about twice the edges of shape images (the classes are really drawn)?"""
    x, y = data.load_source_task(560, seed=3)
    g = x.mean(axis=-1)  # (n, H, W)
    edges = np.abs(np.diff(g, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(g, axis=2)).mean(
        axis=(1, 2)
    )
    is_texture = y >= len(data.SHAPE_CLASSES)
    assert np.median(edges[is_texture]) > 1.5 * np.median(edges[~is_texture])


@pytest.mark.parametrize("name", data.TEXTURES + ("chelsea",))
def test_load_texture(name):
    """Does load_texture give a (size, size, 3) float32 RGB image in [0, 1] with visible structure?"""
    img = data.load_texture(name, size=48)
    assert img.shape == (48, 48, 3) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.03
    with pytest.raises(ValueError):
        data.load_texture("marble")
