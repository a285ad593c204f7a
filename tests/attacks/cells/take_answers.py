# ruff: noqa: F821
"""Take the answers: the grader's reference and hidden checks, the instructor's solutions,
read from disk or found in memory, and used as our own functions."""

import gc
import glob
import importlib
import json
import linecache
import os
import sys

HERE = [P["root"]]
try:  # where the grader's package lives, as the import system says
    import importlib.util

    spec = importlib.util.find_spec("autograder")
    if spec and spec.origin:
        HERE.append(os.path.dirname(os.path.dirname(spec.origin)))
except Exception:  # noqa: BLE001
    pass

ALIASES = {
    "conv_output_size": "output_size", "pool2d_forward": "pool2d", "conv2d_forward": "conv2d",
    "conv2d_im2col": "conv2d", "conv_param_count": "keras_conv_params",
    "dense_param_count": "keras_dense_params", "batchnorm_param_count": "keras_batchnorm_params",
    "separable_conv_param_count": "keras_separable_params", "predict_shapes": "keras_spec_shapes",
    "predict_param_count": "keras_spec_param_count", "build_from_spec": "build_spec_model",
}  # fmt: skip


def answers_from_reference(ref: dict, how: str):
    """The reference's functions under the students' names."""
    mine = {}
    for name in GRADED:
        fn = ref.get(ALIASES.get(name, name))
        if callable(fn):
            mine[name] = lambda *a, _f=fn, **k: _f(*a, **k)
    if "KERNELS" in ref:
        mine["make_kernel"] = lambda name, _k=ref["KERNELS"]: _k[name].copy()
    if "im2col" in ref:
        mine["im2col"] = lambda x, f_h, f_w, stride=1, _f=ref["im2col"]: _f(x, f_h, f_w, stride)
    if "gaussian_kernel_1d" in ref:
        mine["gaussian_kernel_1d"] = lambda s, r, _f=ref["gaussian_kernel_1d"]: _f(s, r)
    return steal_from(mine, how)


@attempt
def reference_from_disk():
    for base in HERE:
        for path in sorted(glob.glob(os.path.join(base, "autograder", "reference", "*.py"))):
            src = read(path)
            if not src:
                continue
            breach("read-reference", source_line(src))
            ns = fresh_namespace()
            ns["__name__"] = "stolen_reference"
            exec_definitions(src.decode(), ns)
            answers_from_reference(ns, "exec-reference-from-disk")


@attempt
def checks_from_disk():
    for base in HERE:
        for path in sorted(glob.glob(os.path.join(base, "autograder", "checks", "*.py"))):
            src = read(path)
            if src and len(src) > 100:
                breach("read-hidden-checks", source_line(src))


@attempt
def reference_by_import():
    """Take the import hook off and import the reference."""
    sys.meta_path[:] = [f for f in sys.meta_path if "Block" not in type(f).__name__]
    for name in ("convolution", "keras_cnn"):
        sys.modules.pop(f"autograder.reference.{name}", None)
        try:
            module = importlib.import_module(f"autograder.reference.{name}")
        except Exception:  # noqa: BLE001
            continue
        breach("import-reference")
        answers_from_reference(vars(module), "import-reference")


@attempt
def reference_in_memory():
    """Function objects of the reference that outlived their module."""
    ref = {}
    for obj in gc.get_objects():
        if (
            callable(obj)
            and getattr(obj, "__module__", "")
            and str(obj.__module__).startswith("autograder.reference")
        ):
            ref.setdefault(getattr(obj, "__name__", ""), obj)
    if ref:
        breach("reference-in-memory", ",".join(sorted(ref))[:200])
        answers_from_reference(ref, "reference-in-memory")


@attempt
def sources_in_linecache():
    for path, entry in list(linecache.cache.items()):
        if "autograder" in str(path) and isinstance(entry, tuple) and len(entry) > 2:
            breach("linecache-grader-source", source_line("".join(entry[2])))


@attempt
def checks_module_source():
    """inspect.getsource of the hidden checks module the grader imported."""
    import inspect

    for name, module in list(sys.modules.items()):
        if name.startswith(("autograder.checks.", "autograder.reference")):
            try:
                src = inspect.getsource(module)
            except Exception:  # noqa: BLE001
                continue
            breach("getsource-" + name.split(".")[1], source_line(src))


@attempt
def solutions_notebook():
    """The instructor's source notebook, solution cells run as ours."""
    for base in HERE:
        for path in sorted(
            glob.glob(os.path.join(base, "solutions", "**", "*.ipynb"), recursive=True)
        ):
            raw = read(path, 16 << 20)
            if not raw:
                continue
            breach("read-solutions", path)
            ns = fresh_namespace()
            for cell in json.loads(raw)["cells"]:
                src = "".join(cell.get("source", ""))
                if cell.get("cell_type") == "code" and "BEGIN SOLUTION" in src:
                    exec_definitions(src, ns)
            steal_from(ns, "exec-solutions")
