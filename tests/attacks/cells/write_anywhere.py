# ruff: noqa: F821
"""Write anywhere: a file named after the test's sentinel in the course root, the grader's
packages, site-packages (a .pth, which Python would run at every start), the --out and
submissions folders, /tmp, /dev/shm, the grader's home; a classmate's notebook changed."""

import glob
import os
import sys
import sysconfig

import cnn_course

TARGETS = {
    "course-root": P["root"],
    "reference-package": os.path.join(P["root"], "autograder", "reference"),
    "checks-package": os.path.join(P["root"], "autograder", "checks"),
    "solutions": os.path.join(P["root"], "solutions"),
    "cnn-course-package": os.path.dirname(cnn_course.__file__),
    "site-packages": sysconfig.get_paths()["purelib"],
    "venv-bin": os.path.dirname(sys.executable),
    "out": P["out"],
    "submissions": P["submissions"],
    "test-folder": P["base"],
    "tmp": "/tmp",
    "var-tmp": "/var/tmp",
    "dev-shm": "/dev/shm",
    "grader-home": P["home"],
    "root-home": "/root",
    "filesystem-root": "/",
    "etc": "/etc",
}


@attempt
def write_sentinels():
    for name, folder in TARGETS.items():
        suffix = ".pth" if name == "site-packages" else ".txt"
        path = os.path.join(folder, f"{P['sentinel']}-{name}{suffix}")
        # a .pth line naming a folder that does not exist: harmless if it ever persisted
        data = f"/nonexistent-{P['sentinel']}\n" if suffix == ".pth" else "x" * (1 << 20)
        # /tmp and /dev/shm may be the sandbox's own private ones: the test looks on the host
        if write(path, data) and name not in ("tmp", "var-tmp", "dev-shm"):
            breach("write-" + name, path)


@attempt
def write_fake_reference_module():
    path = os.path.join(P["root"], "autograder", "reference", f"{P['sentinel']}_module.py")
    if write(path, "# would be imported by the grader\n"):
        breach("write-reference-module", path)


@attempt
def change_classmate_notebooks():
    for path in glob.glob(os.path.join(P["submissions"], "**", "*.ipynb"), recursive=True):
        if os.path.basename(path) == P["student"] + ".ipynb":
            continue
        try:
            with open(path, "ab") as f:
                f.write(b"\n{corrupted by a classmate}")
            breach("change-classmate-notebook", path)
        except OSError:
            pass


@attempt
def escape_through_symlink():
    """A link in our own folder to the grader's --out folder, then a write through it."""
    link = os.path.join(os.getcwd(), "escape")
    os.symlink(P["out"], link)
    if write(os.path.join(link, f"{P['sentinel']}-via-symlink.txt"), "x"):
        breach("write-through-symlink")
