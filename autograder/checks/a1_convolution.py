"""Hidden checks of a1_convolution: convolution from scratch in NumPy.

Inputs are built here (NumPy only) and shared by both sides; expected outputs
and the known wrong variants come from :mod:`autograder.reference.convolution`,
imported only inside the ``compare`` functions, i.e. only where points are
decided. Case labels describe the configuration, never the values.
"""

from __future__ import annotations

import time
from functools import cache

import numpy as np

from autograder.core import (
    Assignment,
    Case,
    Check,
    Timing,
    compare_array,
    shape_hint,
    time_rounds,
)

AID = "a1_convolution"


def _ref():
    from autograder.reference import convolution

    return convolution


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(20261123 + seed)


def _label(**kw) -> str:
    parts = []
    for k, v in kw.items():
        if isinstance(v, np.ndarray):
            parts.append(f"{k} {v.shape} {v.dtype}")
        else:
            parts.append(f"{k}={v!r}")
    return ", ".join(parts)


# Worked examples from the lectures, also the notebook's visible tests.
SEED_IMAGE = np.array(
    [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]],
    dtype=np.float64,
)
SEED_FILTER = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float64)
SEED_X = np.array(
    [[7, 2, 3, 3, 8], [4, 5, 3, 8, 4], [3, 3, 2, 8, 4], [2, 8, 7, 2, 7], [5, 4, 4, 5, 4]],
    dtype=np.float64,
)
SEED_EDGE = np.array([[1, 0, -1]] * 3, dtype=np.float64)


# --- conv_output_size -------------------------------------------------------------------


@cache
def _size_cases() -> list[Case]:
    cases = [
        Case((5, 3), {}, "n=5, f=3"),
        Case((7, 3), {"stride": 2}, "n=7, f=3, stride=2"),
        Case((32, 5), {"padding": 2}, "n=32, f=5, padding=2"),
        Case((7, 3), {"padding": 1, "stride": 3}, "n=7, f=3, padding=1, stride=3"),
        Case((10, 3), {"padding": "same", "stride": 2}, "n=10, f=3, padding='same', stride=2"),
        Case((11, 4), {"padding": "valid", "stride": 3}, "n=11, f=4, padding='valid', stride=3"),
        Case((9, 3), {"dilation": 2}, "n=9, f=3, dilation=2"),
        Case((8, 3), {"padding": "same", "dilation": 3}, "n=8, f=3, padding='same', dilation=3"),
        Case((4, 7), {}, "n=4, f=7 (kernel larger than input)", raises=ValueError),
        Case(
            (7, 3),
            {"dilation": 4},
            "n=7, f=3, dilation=4 (dilated kernel larger than input)",
            raises=ValueError,
        ),
        Case((7, 3), {"stride": 0}, "stride=0", raises=ValueError),
        Case((7, 3), {"dilation": 0}, "dilation=0", raises=ValueError),
        Case((7, 3), {"padding": -1}, "padding=-1", raises=ValueError),
    ]
    rng = _rng(1)
    for _ in range(20):
        f, s, d = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
        n = int(rng.integers(d * (f - 1) + 1, 40))
        p = ["same", "valid", int(rng.integers(0, 4))][int(rng.integers(0, 3))]
        n_arg = np.int64(n) if rng.random() < 0.3 else n  # NumPy integers are fine too
        cases.append(
            Case(
                (n_arg, f),
                {"padding": p, "stride": s, "dilation": d},
                f"n={n}, f={f}, padding={p!r}, stride={s}, dilation={d}",
            )
        )
    return cases


def _compare_size(case: Case, got) -> str | None:
    ref = _ref()
    n, f = (int(a) for a in case.args)
    p, s, d = (
        case.kwargs.get("padding", 0),
        case.kwargs.get("stride", 1),
        case.kwargs.get("dilation", 1),
    )
    want = ref.output_size(n, f, p, s, d)
    value = got["value"]
    if value == want:
        return None
    pads = ref.pad_amounts(n, f, p, s, d)
    total = n + sum(pads) - d * (f - 1) - 1
    if value == want - 1 and p != "same":
        return f"got {value}, expected one more: did you forget the + 1?"
    if p != "same" and value == -(-total // s) + 1 and total % s:
        return f"got {value}: use the floor of the division by the stride, not the ceiling"
    if d > 1 and value == (n + sum(pads) - (f - 1) - 1) // s + 1:
        return f"got {value}: the dilated kernel spans d(f - 1) + 1 pixels; dilation was ignored"
    if isinstance(p, int) and p and value == (n + p - d * (f - 1) - 1) // s + 1:
        return f"got {value}: padding p adds p pixels on each side (2p in all)"
    if p == "same" and value == n:
        return f"got {value}: with padding='same' the size is ceil(n / stride)"
    return f"got {value}, expected {want}"


# --- zero_pad ---------------------------------------------------------------------------


@cache
def _pad_cases() -> list[Case]:
    rng = _rng(2)
    x1 = rng.normal(size=(2, 3, 4, 2))
    x2 = rng.normal(size=(1, 5, 2, 3)).astype(np.float32)
    x3 = rng.normal(size=(3, 2, 2, 1))
    return [
        Case((x1, 1), {}, _label(x=x1, pad=1)),
        Case((x2, 2), {}, _label(x=x2, pad=2)),
        Case((x3, ((1, 0), (0, 2))), {}, _label(x=x3, pad=((1, 0), (0, 2)))),
        Case((x1, 0), {}, _label(x=x1, pad=0)),
        Case((x2, ((0, 3), (2, 1))), {}, _label(x=x2, pad=((0, 3), (2, 1)))),
    ]


def _compare_pad(case: Case, got) -> str | None:
    ref = _ref()
    x, pad = case.args
    want = ref.zero_pad(x, pad)
    arr = got["value"]
    if isinstance(pad, int) and pad and arr.shape == tuple(s + 2 * pad for s in x.shape):
        return "all four axes were padded: pad only H and W of (N, H, W, C)"
    if not isinstance(pad, int):
        swapped = ref.zero_pad(x, ((pad[0][1], pad[0][0]), (pad[1][1], pad[1][0])))
        mistakes = [
            ("before and after are swapped: pad is ((top, bottom), (left, right))", lambda: swapped)
        ]
    else:
        mistakes = []
    return compare_array(arr, want, mistakes)


# --- corr2d and conv2d_true ---------------------------------------------------------------


@cache
def _corr_cases() -> list[Case]:
    rng = _rng(3)
    cases = [
        Case((SEED_IMAGE, SEED_FILTER), {}, "the 5x5 image and 3x3 filter of the lecture"),
        Case((SEED_X, SEED_EDGE), {}, "the [[1, 0, -1]] x 3 example of the lecture"),
    ]
    for shape, kshape, dtype in [
        ((6, 9), (3, 2), np.float64),
        ((8, 5), (2, 3), np.float32),
        ((7, 7), (1, 4), np.float64),
        ((10, 4), (4, 4), np.float32),
        ((5, 6), (3, 3), np.float64),
    ]:
        image = rng.normal(size=shape).astype(dtype)
        kernel = rng.normal(size=kshape).astype(dtype)
        cases.append(Case((image, kernel), {}, _label(image=image, kernel=kernel)))
    return cases


def _compare_corr(case: Case, got) -> str | None:
    ref = _ref()
    image, kernel = case.args
    want = ref.corr2d(image, kernel)
    hint = shape_hint(got["value"].shape, want.shape)
    if hint:
        return hint
    mistakes = [
        (
            "your output equals true convolution: Keras's Conv2D does not flip the kernel (cross-correlation)",
            lambda: ref.conv2d_true(image, kernel),
        ),
        (
            "your output is the transpose of the right one: check which index runs over rows",
            lambda: ref.corr2d(image.T, kernel.T).T,
        ),
    ]
    return compare_array(got["value"], want, mistakes)


def _compare_true(case: Case, got) -> str | None:
    ref = _ref()
    image, kernel = case.args
    want = ref.conv2d_true(image, kernel)
    hint = shape_hint(got["value"].shape, want.shape)
    if hint:
        return hint
    mistakes = [
        (
            "your output equals cross-correlation: true convolution flips the kernel in both axes (F[::-1, ::-1])",
            lambda: ref.corr2d(image, kernel),
        ),
        (
            "the kernel was flipped along one axis only: flip rows and columns",
            lambda: ref.corr2d(image, kernel[::-1]),
        ),
        (
            "the kernel was flipped along one axis only: flip rows and columns",
            lambda: ref.corr2d(image, kernel[:, ::-1]),
        ),
    ]
    return compare_array(got["value"], want, mistakes)


# --- make_kernel --------------------------------------------------------------------------


def _kernel_cases() -> list[Case]:
    return [Case((name,), {}, f"name={name!r}") for name in ("edge", "sharpen", "box_blur")]


def _kernel_unknown_cases() -> list[Case]:
    return [
        Case((name,), {}, f"the unknown name {name!r}", raises=ValueError)
        for name in ("emboss", "blur", "")
    ]


def _compare_kernel(case: Case, got) -> str | None:
    ref = _ref()
    want = ref.KERNELS[case.args[0]]
    mistakes = [
        (
            "the blur kernel must average: divide by 9 so the weights sum to 1",
            lambda: np.ones((3, 3)),
        ),
        ("the signs are reversed: the centre weight is positive", lambda: -want),
    ]
    return compare_array(got["value"], want, mistakes)


# --- conv2d_forward and conv2d_im2col ------------------------------------------------------


def _conv_case(rng, batch, h, w, c_in, c_out, fh, fw, dtype=np.float64, bias=True, **kw) -> Case:
    x = rng.normal(size=(batch, h, w, c_in)).astype(dtype)
    k = rng.normal(size=(fh, fw, c_in, c_out)).astype(dtype)
    b = rng.normal(size=(c_out,)).astype(dtype) if bias else None
    return Case((x, k, b), kw, _label(x=x, w=k, b=b if bias else None, **kw))


@cache
def _conv_basic_cases() -> list[Case]:
    rng = _rng(4)
    return [
        Case(
            (SEED_IMAGE[None, :, :, None], SEED_FILTER[:, :, None, None], np.zeros(1)),
            {},
            "the lecture's 5x5 example as a batch of one",
        ),
        _conv_case(rng, 1, 5, 5, 1, 1, 3, 3),
        _conv_case(rng, 2, 6, 7, 3, 4, 3, 3),
        _conv_case(rng, 1, 8, 6, 2, 3, 2, 3, np.float32),
        _conv_case(rng, 3, 5, 5, 4, 2, 1, 1),
        _conv_case(rng, 2, 7, 5, 3, 2, 3, 2, bias=False),
        _conv_case(rng, 1, 6, 9, 5, 6, 4, 4, np.float32),
    ]


@cache
def _conv_options_cases() -> list[Case]:
    rng = _rng(5)
    return [
        _conv_case(rng, 1, 7, 7, 2, 3, 3, 3, stride=2),
        _conv_case(rng, 2, 6, 8, 3, 2, 3, 3, padding=1),
        _conv_case(rng, 1, 8, 8, 2, 2, 3, 3, stride=2, padding="same"),
        _conv_case(rng, 2, 10, 6, 3, 4, 4, 2, stride=2, padding="same", dtype=np.float32),
        _conv_case(rng, 1, 9, 9, 1, 2, 3, 3, dilation=2),
        _conv_case(rng, 2, 11, 8, 2, 3, 3, 2, dilation=2, padding="same"),
        _conv_case(rng, 1, 9, 7, 3, 2, 3, 3, stride=3, padding="valid"),
        _conv_case(rng, 2, 6, 6, 2, 2, 2, 2, padding="same", bias=False),
        _conv_case(rng, 1, 12, 10, 2, 3, 5, 3, stride=2, padding=2, dtype=np.float32),
    ]


def _channel_mismatch_case() -> Case:
    rng = _rng(6)
    x, k = rng.normal(size=(1, 5, 5, 3)), rng.normal(size=(3, 3, 2, 4))
    return Case((x, k, None), {}, "x with 3 channels, w expecting 2", raises=ValueError)


def _compare_conv(case: Case, got) -> str | None:
    ref = _ref()
    x, w, b = case.args
    kw = case.kwargs
    want = ref.conv2d(x, w, b, **kw)
    stride, padding, dilation = kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1)
    arr = got["value"]
    mistakes = [
        (
            "your output equals true convolution: Keras's Conv2D does not flip the kernel",
            lambda: ref.conv2d(x, w[::-1, ::-1], b, **kw),
        ),
        (
            "the bias is missing: add b[k] to every output of filter k",
            lambda: ref.conv2d(x, w, None, **kw),
        ),
        (
            "'same' padding puts the extra row/column at the top/left: TensorFlow puts it at the bottom/right",
            lambda: ref.conv2d(x, w, b, same_extra_first=True, **kw),
        ),
        ("the stride was ignored", lambda: ref.conv2d(x, w, b, padding=padding, dilation=dilation)),
        ("the padding was ignored", lambda: ref.conv2d(x, w, b, stride=stride, dilation=dilation)),
        ("the dilation was ignored", lambda: ref.conv2d(x, w, b, stride=stride, padding=padding)),
        (
            "the kernel's H and W axes are swapped: w has shape (F_h, F_w, C_in, C_out)",
            lambda: ref.conv2d(x, np.swapaxes(w, 0, 1), b, **kw),
        ),
        (
            "the output is channels-first (N, C, H, W): return NHWC",
            lambda: np.transpose(want, (0, 3, 1, 2)),
        ),
    ]
    if arr.shape != want.shape:
        for explanation, variant in mistakes[3:6] + mistakes[7:]:
            try:
                if variant().shape == arr.shape:
                    return f"output shape {arr.shape}, expected {want.shape}: {explanation}"
            except Exception:  # noqa: BLE001
                continue
        hint = shape_hint(arr.shape, want.shape)
        if hint:
            return hint
    return compare_array(arr, want, mistakes)


# --- pooling ------------------------------------------------------------------------------


@cache
def _pool_cases() -> list[Case]:
    rng = _rng(7)
    four = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float64)[
        None, :, :, None
    ]
    cases = [
        Case((four,), {}, "the lecture's 4x4 example, max 2x2"),
        Case((four,), {"mode": "avg"}, "the lecture's 4x4 example, average 2x2"),
    ]
    for shape, kw, dtype in [
        ((2, 6, 8, 3), {"pool_size": 2}, np.float64),
        ((1, 7, 9, 2), {"pool_size": 3, "stride": 2}, np.float32),
        ((2, 5, 5, 1), {"pool_size": 2, "stride": 1, "mode": "avg"}, np.float64),
        ((1, 9, 6, 4), {"pool_size": 3, "mode": "avg"}, np.float32),
        ((3, 7, 7, 2), {"pool_size": 2, "mode": "max"}, np.float64),
    ]:
        x = rng.normal(size=shape).astype(dtype)
        cases.append(Case((x,), kw, _label(x=x, **kw)))
    return cases


def _compare_pool(case: Case, got) -> str | None:
    ref = _ref()
    (x,) = case.args
    size = case.kwargs.get("pool_size", 2)
    stride = case.kwargs.get("stride")
    mode = case.kwargs.get("mode", "max")
    want = ref.pool2d(x, size, stride, mode)
    other = "avg" if mode == "max" else "max"
    arr = got["value"]
    mistakes = [
        (
            f"your output is {other} pooling; the case asked for mode={mode!r}",
            lambda: ref.pool2d(x, size, stride, other),
        ),
        (
            "the stride should default to pool_size (non-overlapping windows)",
            lambda: ref.pool2d(x, size, 1, mode),
        ),
        (
            "the pooling ran over the channel axis too: pool H and W of each channel separately",
            lambda: ref.pool2d(x, size, stride, mode).max(axis=-1, keepdims=True),
        ),
    ]
    if arr.shape != want.shape:
        n = x.shape[1]
        s = stride or size
        if (
            arr.ndim == 4
            and arr.shape[1] == -(-(n - size) // s) + 1
            and arr.shape[1] != want.shape[1]
        ):
            return f"output shape {arr.shape}, expected {want.shape}: pooling uses the floor (valid windows only), not the ceiling"
    return compare_array(arr, want, mistakes)


# --- im2col -------------------------------------------------------------------------------


@cache
def _im2col_cases() -> list[Case]:
    rng = _rng(8)
    cases = []
    for shape, fh, fw, stride, dtype in [
        ((1, 4, 4, 1), 3, 3, 1, np.float64),
        ((2, 5, 6, 3), 3, 2, 1, np.float64),
        ((1, 7, 7, 2), 3, 3, 2, np.float32),
        ((3, 4, 5, 2), 2, 2, 2, np.float64),
        ((2, 6, 4, 1), 1, 3, 1, np.float64),
    ]:
        x = rng.normal(size=shape).astype(dtype)
        cases.append(
            Case((x, fh, fw), {"stride": stride}, _label(x=x, f_h=fh, f_w=fw, stride=stride))
        )
    return cases


def _compare_im2col(case: Case, got) -> str | None:
    ref = _ref()
    x, fh, fw = case.args
    stride = case.kwargs["stride"]
    want = ref.im2col(x, fh, fw, stride)
    mistakes = [
        (
            "the columns are in (c, u, v) order: make the channel the fastest index, (u, v, c), so that w.reshape(-1, C_out) lines up",
            lambda: ref.im2col(x, fh, fw, stride, order="cuv"),
        ),
        (
            "this is the transpose: rows are patches (N*H_out*W_out of them), columns are f_h*f_w*C",
            lambda: want.T,
        ),
    ]
    return compare_array(got["value"], want, mistakes)


# --- conv2d_im2col speed ------------------------------------------------------------------

SPEED_RATIO = 20.0


def four_loop_conv(x, w, b):
    """The baseline of the speed check: loops over n, i, j and the output channel."""
    n_, h, wd, _ = x.shape
    fh, fw, _, c_out = w.shape
    out = np.zeros((n_, h - fh + 1, wd - fw + 1, c_out))
    for n in range(n_):
        for i in range(h - fh + 1):
            for j in range(wd - fw + 1):
                for k in range(c_out):
                    out[n, i, j, k] = np.sum(x[n, i : i + fh, j : j + fw, :] * w[..., k]) + b[k]
    return out


# The student's function is timed on SPEED_ROUNDS fresh inputs and keeps its fastest round: a
# round of a few milliseconds that a busy machine happens to deschedule costs nothing then (an
# honest im2col runs about 100x faster than four loops on an idle machine, and needs 20x). The
# four-loop baseline is CPU time in the grader on the first BASELINE_ROUNDS of those inputs.
SPEED_ROUNDS = 5
BASELINE_ROUNDS = 3


def _speed_fresh(rng: np.random.Generator):
    """Fresh timing inputs for this grading run, and what only the grader keeps: the
    expected outputs and the four-loop baseline's CPU time on the same inputs."""
    rounds = [
        (rng.normal(size=(2, 24, 24, 8)), rng.normal(size=(3, 3, 8, 16)), rng.normal(size=(16,)))
        for _ in range(SPEED_ROUNDS)
    ]
    baseline = float("inf")
    for x, w, b in rounds[:BASELINE_ROUNDS]:
        t0 = time.thread_time()  # CPU time of this thread: other processes cannot inflate it
        four_loop_conv(x, w, b)
        baseline = min(baseline, time.thread_time() - t0)
    expected = [_ref().conv2d(x, w, b) for x, w, b in rounds]
    return {"rounds": rounds}, {"expected": expected, "baseline": baseline}


def _observe_speed(ns: dict, given):
    """nbgrader's harness (trusted work): time in the kernel, as the fast harness does from outside."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        return _observe_speed_timed(ns, given)
    with threadpool_limits(limits=1):  # one BLAS thread, as in the grader's sandbox
        return _observe_speed_timed(ns, given)


def _observe_speed_timed(ns: dict, given):
    return time_rounds(ns["conv2d_im2col"], given["rounds"], Timing(SPEED_ROUNDS), "array")


def _verify_speed(obs, kept) -> tuple[bool, str]:
    seconds, outputs = list(obs["seconds"]), list(obs["outputs"])
    if len(seconds) != len(kept["expected"]) or len(outputs) != len(seconds):
        return False, "`conv2d_im2col` did not answer every timed round"
    for got, want in zip(outputs, kept["expected"], strict=True):
        if "error" in got:
            return False, f"`conv2d_im2col` raised {got['error']} on the timing input"
        if "bad_type" in got:
            return False, f"`conv2d_im2col` {got['bad_type']}"
        if compare_array(np.asarray(got["value"], dtype=np.float64), want) is not None:
            return (
                False,
                "`conv2d_im2col` gives a wrong result on the timing input, so its speed earns nothing",
            )
    t_loop, t_student = float(kept["baseline"]), min(float(t) for t in seconds)
    ratio = t_loop / max(t_student, 1e-9)
    if ratio >= SPEED_RATIO:
        return (
            True,
            f"`conv2d_im2col` is {ratio:.0f}x faster than the four-loop version (needs {SPEED_RATIO:.0f}x)",
        )
    return False, (
        f"`conv2d_im2col` runs only {ratio:.1f}x as fast as the four-loop version on x (2, 24, 24, 8), "
        f"w (3, 3, 8, 16) (needs {SPEED_RATIO:.0f}x): build the patch matrix with slicing, not a loop over positions, and use one matrix product"
    )


# --- Gaussian blur ------------------------------------------------------------------------


def _gauss_cases() -> list[Case]:
    return [
        Case((s, r), {}, f"sigma={s}, radius={r}")
        for s, r in [(1.0, 2), (0.5, 1), (2.0, 4), (1.5, 3), (3.0, 0)]
    ]


def _compare_gauss(case: Case, got) -> str | None:
    ref = _ref()
    sigma, radius = case.args
    want = ref.gaussian_kernel_1d(sigma, radius)
    arr = got["value"]
    if arr.shape != want.shape:
        return f"length {arr.shape}, expected 2 * radius + 1 = {want.size}"
    mistakes = [
        (
            "the weights do not sum to 1: divide by their sum",
            lambda: ref.gaussian_kernel_1d(sigma, radius, normalise=False),
        ),
        (
            "the exponent uses sigma instead of sigma squared: exp(-k^2 / (2 sigma^2))",
            lambda: (lambda g: g / g.sum())(
                np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma))
            ),
        ),
    ]
    return compare_array(arr, want, mistakes)


@cache
def _blur_cases() -> list[Case]:
    rng = _rng(10)
    cases = []
    for shape, sigma, radius, dtype in [
        ((9, 9), 1.0, 2, np.float64),
        ((12, 7), 0.8, 1, np.float32),
        ((15, 20), 2.0, 3, np.float64),
    ]:
        image = rng.random(size=shape).astype(dtype)
        cases.append(
            Case((image, sigma, radius), {}, _label(image=image, sigma=sigma, radius=radius))
        )
    return cases


def _compare_blur(case: Case, got) -> str | None:
    ref = _ref()
    image, sigma, radius = case.args
    want = ref.separable_blur(image, sigma, radius)
    arr = got["value"]
    if arr.shape == image.shape and arr.shape != want.shape:
        return f"output shape {arr.shape} is the input's: return the valid region, {want.shape}"
    g = ref.gaussian_kernel_1d(sigma, radius)
    mistakes = [
        (
            "only one 1-D pass was applied: blur along rows, then along columns",
            lambda: ref.corr2d(image, g[None, :])[radius : -radius or None, :],
        ),
    ]
    return compare_array(arr, want, mistakes)


# The rules beyond values that the checks above enforce, by function. Each is stated in the
# notebook and exercised by a visible test marked `# rule: <rule>`; tests/test_visible_rules.py
# breaks each rule in turn and asserts that both the visible and the hidden tests fail.
FLOOR = "floors when the stride does not tile the input (no error)"
RULES: dict[str, list[str]] = {
    "conv_output_size": [
        "returns an int",
        "accepts NumPy integers for n and f",
        "accepts padding='valid'",
        FLOOR,
        "raises ValueError when the filter is larger than the padded input",
        "raises ValueError when the dilated filter is larger than the padded input",
        "raises ValueError when stride < 1",
        "raises ValueError when dilation < 1",
        "raises ValueError for a negative padding",
    ],
    "zero_pad": ["accepts pad as ((top, bottom), (left, right))"],
    "make_kernel": ["raises ValueError for an unknown name"],
    "conv2d_forward": [
        "accepts b=None (no bias)",
        FLOOR,
        "raises ValueError when x and w disagree on C_in",
    ],
    "pool2d_forward": [FLOOR],
    "im2col": [FLOOR],
    "conv2d_im2col": [
        "accepts b=None (no bias)",
        "accepts padding='same' (TensorFlow's rule)",
        "accepts padding='valid'",
        FLOOR,
    ],
}


CHECKS = [
    Check(
        "conv_output_size",
        2,
        "conv_output_size",
        "Output size of a convolution: padding, stride, dilation, 'same', invalid arguments",
        _size_cases,
        _compare_size,
        returns="int",
    ),
    Check(
        "zero_pad",
        1,
        "zero_pad",
        "Zero padding of H and W, int or ((top, bottom), (left, right))",
        _pad_cases,
        _compare_pad,
    ),
    Check(
        "corr2d",
        2,
        "corr2d",
        "Valid 2-D cross-correlation of one channel",
        _corr_cases,
        _compare_corr,
    ),
    Check(
        "conv2d_true",
        1,
        "conv2d_true",
        "True convolution: the kernel flipped",
        _corr_cases,
        _compare_true,
    ),
    Check(
        "make_kernel",
        1,
        "make_kernel",
        "The lecture's edge, sharpen and box-blur kernels",
        _kernel_cases,
        _compare_kernel,
    ),
    Check(
        "make_kernel_unknown_name",
        1,
        "make_kernel",
        "ValueError for a kernel name make_kernel does not know",
        _kernel_unknown_cases,
        _compare_kernel,  # never called: every case must raise
    ),
    Check(
        "conv2d_forward_basic",
        2,
        "conv2d_forward",
        "Multi-channel convolution layer with bias, stride 1, no padding; channel mismatch raises",
        lambda: _conv_basic_cases() + [_channel_mismatch_case()],
        _compare_conv,
    ),
    Check(
        "conv2d_forward_options",
        2,
        "conv2d_forward",
        "Convolution with stride, integer and 'same' padding, dilation",
        _conv_options_cases,
        _compare_conv,
    ),
    Check(
        "pool2d_forward",
        2,
        "pool2d_forward",
        "Max and average pooling, valid, stride defaulting to pool_size",
        _pool_cases,
        _compare_pool,
    ),
    Check(
        "im2col",
        2,
        "im2col",
        "Patch matrix: rows (n, i, j), columns (u, v, c)",
        _im2col_cases,
        _compare_im2col,
    ),
    Check(
        "conv2d_im2col",
        2,
        "conv2d_im2col",
        "Vectorised convolution equal to conv2d_forward",
        lambda: [
            c
            for c in _conv_basic_cases() + _conv_options_cases()
            if c.kwargs.get("dilation", 1) == 1
        ],
        _compare_conv,
    ),
    Check(
        "conv2d_im2col_speed",
        1,
        "conv2d_im2col",
        f"conv2d_im2col at least {SPEED_RATIO:.0f}x faster than four loops, timed in the same run",
        custom_observe=_observe_speed,
        custom_verify=_verify_speed,
        fresh=_speed_fresh,
        timing=Timing(rounds=SPEED_ROUNDS),
    ),
    Check(
        "gaussian_kernel_1d",
        1,
        "gaussian_kernel_1d",
        "1-D Gaussian kernel of length 2 radius + 1 summing to 1",
        _gauss_cases,
        _compare_gauss,
    ),
    Check(
        "separable_blur",
        1,
        "separable_blur",
        "Gaussian blur as two 1-D passes, valid region",
        _blur_cases,
        _compare_blur,
    ),
]


def _warmup() -> None:
    """What the notebook's demo cells load lazily: done once, inherited by every child."""
    import matplotlib.pyplot as plt

    from cnn_course.data import load_photo

    load_photo("camera", size=48)
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((4, 4)), cmap="gray")
    plt.close(fig)


ASSIGNMENT = Assignment(
    aid=AID,
    checks=CHECKS,
    # What the notebook's own cells import: loaded once by the warm parent.
    preload=(
        "numpy",
        "matplotlib",
        "matplotlib.pyplot",
        "skimage.data",
        "skimage.color",
        "skimage.transform",
        "cnn_course.data",
    ),
    address_space_limit=True,
    default_timeout=120.0,
    warmup=_warmup,
)
