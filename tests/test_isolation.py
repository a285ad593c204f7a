"""Issue 9's contract: a hostile submission cannot copy, read, write, connect, hurt or cheat.

Each batch grades hostile notebooks (``tests/attacks/``, at least one per class of the issue's
first list, each trying several techniques) beside honest classmates (the solution under
several names, each with a unique marker) with ``autograder grade ... --jobs 2 --isolation
strict``, run as a separate process with a secret in its environment and a fake ``HOME`` holding
a secret file, while the test runs loopback servers (TCP over IPv4 and IPv6, UDP, unix sockets
by path and by abstract name) and decoy processes outside the batch (as root, as uid 12345 and
as nobody). The a1 batch runs twice: as root, and with ``AUTOGRADER_SANDBOX_UID=12345`` so that
the sandbox takes its unprivileged path although the test runs as root.

Attacks that hit the machine are kept inside this test: ``kill(-1)`` runs only where the child
cannot see the machine's processes (its own PID namespace); elsewhere the attack kills the
processes of this batch only (the grader, classmates, the decoys). The grading process runs
under a soft address-space (a1) or data-size (a2) limit, so that a zip bomb or a link to
``/dev/zero`` read back by the grader fails there instead of filling the machine's memory.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autograder.core import load_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attacks.build import (  # noqa: E402
    HONEST,
    HOSTILE,
    TIMING,
    Corpus,
    honest_notebook,
    hostile_notebook,
    write_notebook,
)

ROOT = Path(__file__).resolve().parents[1]
AUTOGRADER = ROOT / ".venv" / "bin" / "autograder"
UNPRIVILEGED_UID = 12345
MARKER_PREFIX = "classmate-marker-"


@dataclass(frozen=True)
class Batch:
    aid: str
    uid: int | None  # AUTOGRADER_SANDBOX_UID, or None for the grader's own choice
    timeout: int  # --timeout, seconds per submission
    bound: int  # seconds the whole batch may take
    hold: int  # seconds the attacks on classmates keep going
    memory_limit: tuple[int, int]  # (resource, soft limit) for the grading process


BATCHES = {
    "a1-root": Batch("a1_convolution", None, 20, 150, 6, (resource.RLIMIT_AS, 6 << 30)),
    "a1-uid12345": Batch("a1_convolution", UNPRIVILEGED_UID, 20, 150, 6, (resource.RLIMIT_AS, 6 << 30)),
    "a2-root": Batch("a2_keras_cnn", None, 90, 300, 6, (resource.RLIMIT_DATA, 6 << 30)),
}  # fmt: skip
A1_BATCHES = ["a1-root", "a1-uid12345"]


def _grader_command() -> list[str]:
    if AUTOGRADER.exists():
        return [str(AUTOGRADER)]
    return [sys.executable, "-m", "autograder"]


def _strict_supported() -> bool:
    help_text = subprocess.run(
        [*_grader_command(), "grade", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    return "--isolation" in help_text


# --- what the test runs beside the batch --------------------------------------------------


class LoopbackServers:
    """TCP (IPv4, IPv6), UDP and unix-socket servers that record every contact."""

    def __init__(self, folder: Path) -> None:
        self.contacts: list[str] = []
        self.sel = selectors.DefaultSelector()
        self.socks: list[socket.socket] = []
        self.params: dict = {}
        self._stop = threading.Event()

        def listen(name, family, kind, address):
            s = socket.socket(family, kind)
            s.bind(address)
            if kind == socket.SOCK_STREAM:
                s.listen(64)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, (name, kind))
            self.socks.append(s)
            return s

        self.params["tcp_port"] = listen("tcp-ipv4", socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0)).getsockname()[1]  # fmt: skip
        try:
            self.params["tcp6_port"] = listen("tcp-ipv6", socket.AF_INET6, socket.SOCK_STREAM, ("::1", 0)).getsockname()[1]  # fmt: skip
        except OSError:
            self.params["tcp6_port"] = 0
        self.params["udp_port"] = listen("udp-ipv4", socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 0)).getsockname()[1]  # fmt: skip
        self.params["unix_path"] = str(folder / "s")
        listen("unix-path", socket.AF_UNIX, socket.SOCK_STREAM, self.params["unix_path"])
        self.params["unix_dgram_path"] = str(folder / "d")
        listen("unix-dgram", socket.AF_UNIX, socket.SOCK_DGRAM, self.params["unix_dgram_path"])
        self.params["abstract_name"] = f"agiso-{uuid.uuid4().hex}"
        listen("unix-abstract", socket.AF_UNIX, socket.SOCK_STREAM, "\0" + self.params["abstract_name"])  # fmt: skip
        os.chmod(self.params["unix_path"], 0o777)
        os.chmod(self.params["unix_dgram_path"], 0o777)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.sel.select(timeout=0.1):
                name, kind = key.data
                try:
                    if kind == socket.SOCK_STREAM:
                        conn, _ = key.fileobj.accept()
                        conn.close()
                        self.contacts.append(f"{name}: a connection")
                    else:
                        data = key.fileobj.recv(4096)
                        self.contacts.append(f"{name}: a datagram {data[:60]!r}")
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for s in self.socks:
            s.close()


def _start_decoys(token: str) -> dict[str, subprocess.Popen]:
    """Processes outside the batch that a submission might try to kill: `victim-<token> 900`."""
    users = [None] if os.geteuid() != 0 else [None, UNPRIVILEGED_UID, 65534]
    return {
        f"uid {os.geteuid() if u is None else u}": subprocess.Popen(
            [f"victim-{token}", "900"], executable="/bin/sleep", user=u
        )
        for u in users
    }


def _processes() -> dict[int, tuple[str, str, bytes]]:
    """pid -> (cmdline, comm, environ) of every process this test can read."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            base = f"/proc/{name}"
            cmd = Path(base, "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            comm = Path(base, "comm").read_text().strip()
        except OSError:
            continue
        try:
            env = Path(base, "environ").read_bytes()
        except OSError:
            env = b""
        found[int(name)] = (cmd, comm, env)
    return found


def _walk(top: Path, depth: int | None, skip=(".git", ".venv")):
    """Paths under ``top`` down to ``depth`` levels (None: all), never following links."""
    todo = [(Path(top), 0)]
    while todo:
        folder, level = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            yield Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir and entry.name not in skip and (depth is None or level < depth):
                todo.append((Path(entry.path), level + 1))


def sentinel_places(base: Path, home: Path) -> list[tuple[str, Path, int | None]]:
    """Where the test looks for files named after the sentinel: (what, folder, depth)."""
    return [
        ("the course root, recursively (without .git and .venv)", ROOT, None),
        ("site-packages, top level", Path(sysconfig.get_paths()["purelib"]), 0),
        ("the environment's bin folder", Path(sys.executable).parent, 0),
        ("the environment's root", Path(sys.prefix), 0),
        ("/tmp, three levels", Path("/tmp"), 3),
        ("/var/tmp, two levels", Path("/var/tmp"), 2),
        ("/dev/shm, two levels", Path("/dev/shm"), 2),
        ("the grader's HOME, recursively", home, None),
        ("/root, top level", Path("/root"), 0),
        ("/, top level", Path("/"), 0),
        ("/etc, top level", Path("/etc"), 0),
        ("the test's folder (submissions, --out), recursively", base, None),
    ]


def secret_source_lines() -> list[str]:
    """Long lines without quotes of the reference and the hidden checks (code, not messages)."""
    lines = set()
    for path in [*(ROOT / "autograder" / "reference").glob("*.py"), *(ROOT / "autograder" / "checks").glob("*.py")]:  # fmt: skip
        for line in path.read_text().splitlines():
            line = line.strip()
            if len(line) >= 40 and "'" not in line and '"' not in line:
                lines.add(line)
    return sorted(lines)


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


# --- one batch ------------------------------------------------------------------------------


@dataclass
class Run:
    """Everything one graded batch left behind, collected right after the grader exited."""

    name: str
    batch: Batch
    isolation: str | None
    honest: dict[str, str]  # student -> marker
    hostile: dict  # student -> Hostile
    notebooks: dict[str, str]  # student -> notebook text
    params: dict
    secrets: dict[str, str]  # what -> secret text
    base: Path
    out: Path
    subs: Path
    home: Path
    returncode: int | None = None
    seconds: float = 0.0
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""
    grades_at_exit: str | None = None
    grades_later: str | None = None
    survivors: list[str] = field(default_factory=list)
    decoys_dead: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    sentinels: list[str] = field(default_factory=list)
    changed_submissions: list[str] = field(default_factory=list)
    # student folder -> the text of its results.json and feedback.html
    reports: dict[str, str] = field(default_factory=dict)
    report_sizes: dict[str, int] = field(default_factory=dict)
    base_entries: list[str] = field(default_factory=list)

    def rows(self) -> dict[str, dict[str, str]]:
        if not self.grades_at_exit:
            return {}
        return {r["student"]: r for r in csv.DictReader(io.StringIO(self.grades_at_exit))}

    def tail(self) -> str:
        return f"exit {self.returncode} after {self.seconds:.0f} s\nstdout: {self.stdout[-1500:]}\nstderr: {self.stderr[-1500:]}"


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def grade_batch(name: str, batch: Batch, isolation: str | None) -> Run:
    token = uuid.uuid4().hex[:12]
    base = Path(tempfile.mkdtemp(prefix=f"agiso-{token}-"))
    subs, out, home, sock = base / "submissions", base / "out", base / "home", base / "sock"
    for d in (subs, home, sock):
        d.mkdir()
    os.chmod(base, 0o755)
    os.chmod(sock, 0o777)
    secrets = {
        "the grader's environment variable": f"env-secret-{uuid.uuid4().hex}",
        "the file in the grader's HOME": f"home-secret-{uuid.uuid4().hex}",
    }
    (home / "secret.txt").write_text(secrets["the file in the grader's HOME"] + "\n")
    env_name = f"AG_ISOLATION_SECRET_{token.upper()}"
    try:
        shadow = Path("/etc/shadow").read_text().splitlines()[0]
        if len(shadow) >= 10:
            secrets["the first line of /etc/shadow"] = shadow
    except (OSError, IndexError):
        pass

    corpus = Corpus(batch.aid)
    honest = {s: f"{MARKER_PREFIX}{uuid.uuid4().hex}" for s in HONEST[batch.aid]}
    for student, marker in honest.items():
        secrets[f"{student}'s marker"] = marker
    servers = LoopbackServers(sock)
    params = {
        "root": str(ROOT),
        "submissions": str(subs),
        "out": str(out),
        "base": str(base),
        "home": str(home),
        "env_name": env_name,
        "marker_prefix": MARKER_PREFIX,
        "sentinel": f"sentinel-{token}",
        "batch_token": token,
        "victim_token": f"victim-{token}",
        "sleep_token": f"sleeper-{token}",
        "comm_token": f"ag{token}",  # 14 characters: fits a process name
        "host_pidns": os.readlink("/proc/self/ns/pid"),
        "hold": batch.hold,
        "honest": sorted(honest),
        **servers.params,
    }
    hostile = {h.student: h for h in HOSTILE[batch.aid]}
    notebooks = {}
    for student, marker in honest.items():
        write_notebook(honest_notebook(corpus, marker), subs / f"{student}.ipynb")
    for student, h in hostile.items():
        write_notebook(hostile_notebook(corpus, h, params), subs / f"{student}.ipynb")
    for path in subs.iterdir():
        notebooks[path.stem] = path.read_text()
    hashes = {p.name: _hash(p) for p in subs.iterdir()}

    run = Run(
        name, batch, isolation, honest, hostile, notebooks, params, secrets, base, out, subs, home
    )
    decoys = _start_decoys(token)
    env = dict(os.environ, HOME=str(home), MPLBACKEND="Agg")
    env[env_name] = secrets["the grader's environment variable"]
    env.pop("AUTOGRADER_SANDBOX_UID", None)
    if batch.uid is not None:
        env["AUTOGRADER_SANDBOX_UID"] = str(batch.uid)
    cmd = [*_grader_command(), "grade", batch.aid, str(subs), "--out", str(out), "--jobs", "2"]
    cmd += ["--timeout", str(batch.timeout)]
    if isolation:
        cmd += ["--isolation", isolation]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    limit, soft = batch.memory_limit
    try:
        resource.prlimit(proc.pid, limit, (soft, resource.prlimit(proc.pid, limit)[1]))
    except (OSError, ValueError):
        pass
    try:
        run.stdout, run.stderr = proc.communicate(timeout=batch.bound)
    except subprocess.TimeoutExpired:
        run.timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        run.stdout, run.stderr = proc.communicate()
    run.seconds = time.monotonic() - t0
    run.returncode = proc.returncode

    grades = out / "grades.csv"
    run.grades_at_exit = grades.read_text() if grades.is_file() else None
    time.sleep(3.0)  # long enough for a left-behind process to rewrite grades.csv
    run.grades_later = grades.read_text() if grades.is_file() else None

    # Processes of the batch still alive: by token in argv or name, or the secret in environ.
    secret_env = f"{env_name}=".encode()
    for pid, (cmdline, comm, environ) in _processes().items():
        if pid == os.getpid() or f"victim-{token}" in cmdline:
            continue
        if token in cmdline or comm == params["comm_token"] or secret_env in environ:
            run.survivors.append(f"pid {pid} ({comm}): {cmdline[:150]}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    for who, decoy in decoys.items():
        if decoy.poll() is not None:
            run.decoys_dead.append(f"{who}: {decoy.returncode}")
        decoy.kill()
        decoy.wait()
    servers.stop()
    run.contacts = list(servers.contacts)

    for what, top, depth in sentinel_places(base, home):
        for path in _walk(top, depth):
            if params["sentinel"] in path.name:
                run.sentinels.append(f"{path} (in {what})")
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
    run.sentinels = sorted(set(run.sentinels))

    now = {p.name: p for p in subs.iterdir()}
    run.changed_submissions = sorted(
        {n for n in hashes if n not in now or _hash(now[n]) != hashes[n]} | (set(now) - set(hashes))
    )
    run.base_entries = sorted(p.name for p in base.iterdir())
    if out.is_dir():
        for folder in out.iterdir():
            if not folder.is_dir():
                continue
            texts = []
            for name in ("results.json", "feedback.html"):
                path = folder / name
                if path.is_file() and not path.is_symlink():
                    run.report_sizes[f"{folder.name}/{name}"] = path.stat().st_size
                    raw = path.read_text(errors="replace")
                    if name == "results.json":
                        try:
                            raw = "\n".join(_strings(json.loads(raw)))
                        except ValueError:
                            pass
                    else:
                        raw = html.unescape(raw)
                    texts.append(raw)
            run.reports[folder.name] = "\n".join(texts)
    shutil.rmtree(base, ignore_errors=True)
    return run


@pytest.fixture(scope="module")
def strict() -> bool:
    return _strict_supported()


@pytest.fixture(scope="module")
def run(request, strict) -> Run:
    return grade_batch(request.param, BATCHES[request.param], "strict" if strict else None)


ALL = pytest.mark.parametrize("run", list(BATCHES), indirect=True)
A1_ONLY = pytest.mark.parametrize("run", A1_BATCHES, indirect=True)
A2_ONLY = pytest.mark.parametrize("run", ["a2-root"], indirect=True)


def _hostile_reports(run: Run) -> dict[str, str]:
    return {s: text for s, text in run.reports.items() if s not in run.honest}


def _notes(run: Run, student: str) -> str:
    return run.reports.get(student, "")[:600]


# --- the contract -----------------------------------------------------------------------------


def test_grader_accepts_strict_isolation(strict):
    """Does `autograder grade` offer `--isolation strict` (refuse to grade without all of it)?"""
    assert strict, "`autograder grade --help` does not mention --isolation"


@ALL
def test_grader_exits_zero_within_its_bound(run):
    """Does the grader finish the hostile batch, exit 0 and stay within its time bound?"""
    assert not run.timed_out, f"still running after {run.batch.bound} s\n{run.tail()}"
    assert run.returncode == 0, run.tail()
    assert run.seconds < run.batch.bound


@ALL
def test_every_submission_has_a_row(run):
    """Does grades.csv hold one row per notebook, hostile and oddly named ones included?"""
    rows = run.rows()
    assert run.grades_at_exit is not None, f"no grades.csv\n{run.tail()}"
    assert len(rows) == len(run.notebooks), sorted(rows)
    named = [s for s in [*run.honest, *run.hostile] if not s.startswith(".") and s != "grades.csv"]
    assert sorted(set(named) - set(rows)) == []


@ALL
def test_honest_classmates_keep_their_full_scores(run):
    """Do honest classmates graded beside the attacks keep exactly their full scores?"""
    rows = run.rows()
    full = load_assignment(run.batch.aid).max_score
    wrong = {
        s: (rows[s]["score"] if s in rows else "no row", _notes(run, s))
        for s in run.honest
        if s not in rows or float(rows[s]["score"]) != full or float(rows[s]["max_score"]) != full
    }
    assert wrong == {}, f"expected {full:g} each\n{run.tail()}"


@ALL
def test_hostile_notebooks_gain_nothing(run):
    """Does no hostile notebook earn a point it did not compute itself (0, or its honest part)?"""
    rows = run.rows()
    assert rows, f"no grades.csv\n{run.tail()}"
    gained = {}
    for student, row in rows.items():
        if student in run.honest:
            continue
        h = run.hostile.get(student)
        allowed = h.allowed if h else {}
        extra = {
            check: float(points)
            for check, points in row.items()
            if check not in ("student", "score", "max_score") and float(points) > allowed.get(check, 0)
        }  # fmt: skip
        if extra:
            gained[student] = (h.kind if h else "?", extra, _notes(run, student))
    assert gained == {}


@A1_ONLY
def test_timing_attacks_earn_no_speed_point(run):
    """Does a correct but four-loop conv2d_im2col that cheats the timing (clocks rebound, np.sum
    slowed under the baseline, memoised warm-up, GIL hogged, baseline patched, observation
    written by itself) earn 0 for speed, and still its 2 points of correctness?"""
    rows = run.rows()
    cheats = {h.student: h.append[-1] for h in run.hostile.values() if h.append[-1:] and h.append[-1] in TIMING}  # fmt: skip
    assert len(cheats) == 6
    got = {
        technique: (rows[s]["conv2d_im2col_speed"], rows[s]["conv2d_im2col"]) if s in rows else "no row"
        for s, technique in cheats.items()
    }  # fmt: skip
    assert got == {t: ("0", "2") for t in cheats.values()}, run.tail()


@A2_ONLY
def test_lying_model_earns_no_design_point(run):
    """Does a build_cnn with about 290,000 parameters whose weights and count_params lie (and
    which patches the grader's counter) earn nothing for its design or its training?"""
    row = run.rows().get("f_cheat_design")
    assert row is not None, run.tail()
    assert (row["build_cnn_design"], row["build_cnn_learns"]) == ("0", "0"), _notes(
        run, "f_cheat_design"
    )


@ALL
def test_no_file_written_outside_the_sandbox(run):
    """Does no file named after the sentinel appear anywhere the test looks (course root and
    the grader's packages, site-packages, the environment, /tmp, /var/tmp, /dev/shm, the
    grader's HOME, /root, /, /etc, the submissions and --out folders)?"""
    assert run.sentinels == []


@ALL
def test_submissions_folder_is_untouched(run):
    """Are classmates' notebooks and the submissions folder exactly as handed in?"""
    assert run.changed_submissions == []


@ALL
def test_reports_stay_inside_out(run):
    """Do student ids from odd file names (`grades.csv`, `..`, `.hidden`) stay path-safe:
    reports only inside --out, nothing next to it, no collision with grades.csv?"""
    rows = run.rows()
    unsafe = [
        s for s in rows
        if s in ("", ".", "..", "grades.csv") or s.startswith(".") or "/" in s or "\\" in s
    ]  # fmt: skip
    assert unsafe == []
    assert run.base_entries == sorted(["home", "out", "sock", "submissions"])
    missing = [s for s in rows if s not in run.reports]
    assert missing == []


@ALL
def test_no_connection_reaches_loopback_servers(run):
    """Does no submission reach the test's TCP (IPv4, IPv6), UDP or unix-socket servers?"""
    assert run.contacts == []


@ALL
def test_no_process_of_the_batch_survives(run):
    """Is every process the batch started gone 3 s after the grader exits (new sessions,
    double forks, exec'd sleepers, forks that ignore SIGTERM)?"""
    assert run.survivors == []


@ALL
def test_processes_outside_the_batch_are_untouched(run):
    """Are processes outside the batch (as root, uid 12345 and nobody) still alive?"""
    assert run.decoys_dead == []


@ALL
def test_grades_are_not_rewritten_after_the_grader_exits(run):
    """Is grades.csv 3 s after the grader exited still what the grader wrote?"""
    assert run.grades_at_exit is not None, run.tail()
    assert run.grades_later == run.grades_at_exit


@ALL
def test_no_secret_reaches_a_hostile_report(run):
    """Does no hostile student's results.json or feedback.html hold the grader's environment
    secret, the secret file of its HOME, /etc/shadow, a classmate's marker, or a line of the
    reference or of the hidden checks?"""
    reports = _hostile_reports(run)
    assert reports, f"no hostile reports\n{run.tail()}"
    own = "\n".join(t for s, t in run.notebooks.items() if s not in run.honest)
    secrets = dict(run.secrets)
    for i, line in enumerate(secret_source_lines()):
        if line not in own:
            secrets[f"source line {i}: {line[:60]}"] = line
    leaks = sorted(
        {(student, what) for student, text in reports.items() for what, secret in secrets.items() if secret in text}
    )  # fmt: skip
    assert leaks == []


@ALL
def test_notes_and_feedback_are_bounded(run):
    """Do notes floods (300 failing cells, 20,000-character exception names, forged 50 MB
    messages) leave every results.json and feedback.html under 256 KiB?"""
    big = {k: v for k, v in run.report_sizes.items() if v > 256 * 1024}
    assert run.report_sizes, f"no reports\n{run.tail()}"
    assert big == {}


@ALL
def test_no_attack_reports_a_breach(run):
    """Do the hostile notebooks' own reports (their first note) name no technique that got
    through (read, wrote, saw, signalled or connected to something outside the sandbox)?"""
    reports = _hostile_reports(run)
    found = {s: re.search(r"ATTACK-REPORT breaches=(\S*)", t) for s, t in reports.items()}
    assert any(found.values()), f"no attack report reached any feedback\n{run.tail()}"
    breaches = {s: m.group(1) for s, m in found.items() if m and m.group(1)}
    assert breaches == {}
