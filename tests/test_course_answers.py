"""The worked answers in course/answers/: one per lecture exercise, run in fast mode, numbers checked here too."""

import json
import math
import pathlib
import re

import numpy as np
import pytest
from test_course_notebooks import _run

REPO = pathlib.Path(__file__).resolve().parents[1]
LECTURES = sorted((REPO / "course").glob("[0-9][0-9]_*.ipynb"))
ANSWERS = sorted((REPO / "course" / "answers").glob("*.ipynb"))


def _cells(path: pathlib.Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _markdown(path: pathlib.Path) -> str:
    return "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown")


def _answer(lecture: str, k: int) -> str:
    """The markdown of answer k of lecture "NN": from its '## Exercise k' heading to the next heading."""
    text = _markdown(
        REPO / "course" / "answers" / next(p.name for p in LECTURES if p.name[:2] == lecture)
    )
    match = re.search(rf"^## Exercise {k}\b(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"answers {lecture} have no '## Exercise {k}'"
    return match.group(1)


def _exercises(lecture: pathlib.Path) -> list[str]:
    """The numbered items of the lecture's last cell, ## Exercises."""
    return re.findall(r"^(\d+)\. ", _source(_cells(lecture)[-1]), re.M)


def test_every_lecture_has_an_answers_notebook_linked_from_its_exercises():
    """Does each lecture's ## Exercises cell link to answers/<same name>, and does that notebook exist?"""
    assert [p.name for p in ANSWERS] == [p.name for p in LECTURES]
    for lecture in LECTURES:
        assert f"(answers/{lecture.name})" in _source(_cells(lecture)[-1]), lecture.name


def test_every_exercise_has_an_answer_with_code():
    """Is there one '## Exercise k' section per numbered exercise, in order, each followed by a code cell?"""
    for lecture, answers in zip(LECTURES, ANSWERS, strict=True):
        numbers = _exercises(lecture)
        assert numbers == [str(k) for k in range(1, len(numbers) + 1)] and len(numbers) >= 4
        cells = _cells(answers)
        headings = [
            (i, m.group(1))
            for i, c in enumerate(cells)
            if c["cell_type"] == "markdown" and (m := re.match(r"## Exercise (\d+)", _source(c)))
        ]
        assert [n for _, n in headings] == numbers, answers.name
        for i, n in headings:
            assert cells[i + 1]["cell_type"] == "code" and "assert" in _source(cells[i + 1]), (
                f"{answers.name}: exercise {n} has no checking code cell"
            )


def test_answers_are_committed_without_outputs_and_with_stable_ids():
    """Are the answers stripped of outputs, with explicit unique cell ids (reviewable diffs)?"""
    for path in ANSWERS:
        cells = _cells(path)
        ids = [c.get("id") for c in cells]
        assert all(ids) and len(set(ids)) == len(ids), path.name
        for c in cells:
            if c["cell_type"] == "code":
                assert c["outputs"] == [] and c["execution_count"] is None, path.name


def test_answers_use_no_deprecated_api():
    """Do the answers avoid what broke other courses after upgrades (tf.compat, Adam(lr=...), output_shape)?"""
    banned = [
        r"tf\.compat",
        r"keras\.layers\.convolutional",
        r"\blr=",
        r"\.output_shape\b",
        r"\.input_shape\b",
    ]
    for path in ANSWERS:
        text = path.read_text(encoding="utf-8")
        for pattern in banned:
            assert not re.search(pattern, text), f"{path.name} uses {pattern}"


def _bad_fast_uses(source: str) -> list[str]:
    """Uses of FAST other than `A if FAST else B` with numbers (or tuples of numbers) A and B, or a print."""
    import ast

    def numeric(node):
        if isinstance(node, ast.Tuple):
            return all(numeric(e) for e in node.elts)
        return isinstance(node, ast.Constant) and isinstance(node.value, int | float)

    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "FAST" and isinstance(node.ctx, ast.Load):
            parent = parents[node]
            trims = (
                isinstance(parent, ast.IfExp)
                and parent.test is node
                and numeric(parent.body)
                and numeric(parent.orelse)
            )
            printed = isinstance(parent, ast.Call) and getattr(parent.func, "id", None) == "print"
            if not (trims or printed):
                bad.append(ast.unparse(parent)[:80])
    return bad


def test_fast_mode_only_trims_numbers():
    """Does fast mode only pick smaller numbers (sizes, epochs, repeats), never which code runs?

    Every use of FAST in a lecture or an answer must be `A if FAST else B` with numbers A and B,
    or a print: `if FAST:` blocks and `cases[::3]`-style selections hid lecture 02's full-mode crash."""
    bad = [
        f"{path.parent.name}/{path.name}: {use}"
        for path in [*LECTURES, *ANSWERS]
        for cell in _cells(path)
        if cell["cell_type"] == "code"
        for use in _bad_fast_uses(_source(cell))
    ]
    assert not bad, "\n".join(bad)


def test_the_fast_mode_rule_can_fail():
    """Does the rule reject the pattern that hid lecture 02's crash, and accept a trimmed number?"""
    assert _bad_fast_uses("if FAST:\n    cases = cases[::3]")
    assert _bad_fast_uses("cases = cases[::3] if FAST else cases")
    assert _bad_fast_uses("run_gpu = FAST")
    assert not _bad_fast_uses(
        "epochs = 3 if FAST else 12\nn, size = (900, 20) if FAST else (4000, 32)"
    )
    assert not _bad_fast_uses("print('fast mode:', FAST)")


# ---------------------------------------------------------------- numeric answers, checked here


keras = pytest.importorskip("keras")


def test_00_nand_and_softmax_answers():
    """Do NAND weights (1.5; -1, -1) and the max-shifted softmax give what answers 00 say?"""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    assert ((1.5 - x.sum(axis=1)) > 0).astype(int).tolist() == [1, 1, 1, 0]
    assert "$w_0 = 1.5$, $w = (-1, -1)$" in _answer("00", 1)
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(np.exp([1000.0, 0.0]) / np.exp([1000.0, 0.0]).sum()).any()
    assert math.log(np.finfo(np.float64).max) == pytest.approx(709.78, abs=0.01)
    assert "e^{709.8}" in _answer("00", 5)


def test_01_stride_and_box_blur_answers():
    """Does a 7-pixel row give 2 outputs with stride 3, and three 5-boxes a 13-wide kernel of variance 6?"""
    layer = keras.layers.Conv1D(1, 3, strides=3)
    assert layer.compute_output_shape((1, 7, 1))[1] == 2
    assert "**2** outputs" in _answer("01", 3)
    triple = np.convolve(np.convolve(np.ones(5) / 5, np.ones(5) / 5), np.ones(5) / 5)
    pos = np.arange(13) - 6
    assert len(triple) == 13 and (triple * pos**2).sum() == pytest.approx(6)
    assert (11**2 - 1) / 12 == 10
    text = _answer("01", 4)
    assert "$5 + 5 + 5 - 2 = 13$" in text and "= 6$" in text and "= 10$" in text


def test_02_answers_match_keras():
    """Do AlexNet's conv1 (55x55x96, 34,944), the stride list, the receptive fields and Conv2D(64, 3) match Keras?"""
    conv1 = keras.Sequential([keras.Input((227, 227, 3)), keras.layers.Conv2D(96, 11, strides=4)])
    assert (
        tuple(conv1.compute_output_shape((None, 227, 227, 3))) == (None, 55, 55, 96)
        and conv1.count_params() == 34_944
    )
    assert "**55×55×96**" in _answer("02", 1) and "**34,944**" in _answer("02", 1)

    fits = [s for s in range(1, 6) if (32 + 2 - 3) % s == 0]
    sizes = [
        keras.layers.Conv2D(1, 3, strides=s).compute_output_shape((None, 34, 34, 1))[
            1
        ]  # 32 + 2 * 1
        for s in range(1, 6)
    ]
    assert fits == [1] and sizes == [32, 16, 11, 8, 7]
    assert "**$s = 1$**" in _answer("02", 2) and "16, 11, 8, 7" in _answer("02", 2)

    def field(spec):
        r, j = 1, 1
        for f, s in spec:
            r, j = r + (f - 1) * j, j * s
        return r

    assert field([(3, 1)] * 7) == 15 > field([(3, 1)] * 6)
    assert field([(3, 2)] + [(3, 1)] * 3) == 15 > field([(3, 2)] + [(3, 1)] * 2)
    assert "**7 layers**" in _answer("02", 3) and "**4 layers**" in _answer("02", 3)

    for bias, count in [(True, 36_928), (False, 36_864)]:
        model = keras.Sequential(
            [keras.Input((8, 8, 64)), keras.layers.Conv2D(64, 3, use_bias=bias)]
        )
        assert model.count_params() == count
    assert "**36,928**" in _answer("02", 5) and "**36,864**" in _answer("02", 5)


def test_03_answers_match_keras():
    """Do AveragePooling2D on 5x5 (2x2 valid, 3x3 same), Inception 3a (163,696) and the ranks match?"""
    x = np.zeros((1, 5, 5, 1), "float32")
    assert keras.layers.AveragePooling2D(pool_size=2)(x).shape[1:3] == (2, 2)
    assert keras.layers.AveragePooling2D(pool_size=2, padding="same")(x).shape[1:3] == (3, 3)
    assert "**2×2**" in _answer("03", 2) and "**3×3**" in _answer("03", 2)

    inp = keras.Input((28, 28, 192))
    conv = lambda k, f, h: keras.layers.Conv2D(k, f, padding="same")(h)
    branches = [
        conv(64, 1, inp),
        conv(128, 3, conv(96, 1, inp)),
        conv(32, 5, conv(16, 1, inp)),
        conv(32, 1, keras.layers.MaxPooling2D(3, strides=1, padding="same")(inp)),
    ]
    block = keras.Model(inp, keras.layers.Concatenate()(branches))
    assert block.count_params() == 163_696 and block.output.shape[-1] == 256
    text = _answer("03", 3)
    for number in ["12{,}352", "129{,}248", "15{,}920", "6{,}176", "**163,696**", "374{,}944"]:
        assert number in text, number

    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    assert np.linalg.matrix_rank(sharpen) == 2 and "rank **2**" in _answer("03", 4)
    widths = [2 * int(3 * s) + 1 for s in (1, 2, 4, 8)]
    assert widths == [7, 13, 25, 49] and "7, 13, 25, 49" in _answer("03", 5)


def test_04_im2col_size_answer():
    """Is the im2col matrix of 32 images 224x224x64 with a 3x3 kernel 3,699,376,128 bytes (about 3.7 GB)?"""
    rows, cols = 32 * 224 * 224, 3 * 3 * 64
    assert rows * cols * 4 == 3_699_376_128
    assert rows * cols * 4 / 2**30 == pytest.approx(3.45, abs=0.005)
    assert 32 * 224 * 224 * 64 * 4 / 1e6 == pytest.approx(411, abs=0.5)
    text = _answer("04", 2)
    assert "3,699,376,128 bytes" in text and "3.45 GiB" in text and "411" in text


def test_05_answers_match_keras():
    """Do small_cnn's 17,142 (16,950 trainable) and LeNet-28 with padding="same" (61,706) match Keras?"""
    inputs = keras.Input((32, 32, 3))
    h = inputs
    for k in [16, 32]:
        for _ in range(2):
            h = keras.layers.Conv2D(k, 3, padding="same", use_bias=False)(h)
            h = keras.layers.BatchNormalization()(h)
            h = keras.layers.ReLU()(h)
        h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    cnn = keras.Model(inputs, keras.layers.Dense(6)(h))
    trainable = sum(int(np.prod(w.shape)) for w in cnn.trainable_weights)
    assert cnn.count_params() == 17_142 and trainable == 16_950
    assert "**17,142**" in _answer("05", 3) and "**16,950**" in _answer("05", 3)

    lenet = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(6, 5, padding="same"),
            keras.layers.AveragePooling2D(pool_size=2),
            keras.layers.Conv2D(16, 5),
            keras.layers.AveragePooling2D(pool_size=2),
            keras.layers.Flatten(),
            keras.layers.Dense(120),
            keras.layers.Dense(84),
            keras.layers.Dense(10),
        ]
    )
    assert lenet.layers[0].output.shape[1:] == (28, 28, 6) and lenet.count_params() == 61_706
    assert "61,706" in _answer("05", 4)


# ---------------------------------------------------------------- every answer runs


@pytest.mark.slow
@pytest.mark.parametrize("path", ANSWERS, ids=[p.stem for p in ANSWERS])
def test_answers_run_in_fast_mode(path, tmp_path):
    """Does each answers notebook run top to bottom in fast mode, every assert in it passing?"""
    nb = _run(path, tmp_path)
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
