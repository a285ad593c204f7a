"""Finding a class's submissions in what instructors actually have.

Layouts, each also inside a ``.zip`` (extracted safely into a temporary folder):

- nbgrader's ``submitted/<student>/<aid>/`` (id: the ``<student>`` folder);
- a folder of notebooks, or single notebooks (id: the file stem);
- a Canvas download, files ``name_[late_]userid_submissionid_<original>[-N].<ext>``
  (id: the name part; ``late``, the user id and the resubmission number ``N`` are kept as
  data, and only the newest of a student's files is graded);
- a Moodle download, folders ``Full Name_123_assignsubmission_file_/`` (id: the name made
  path-safe; ``123`` kept as data), or the same prefix on flat file names.

Nothing is dropped silently: a file that is not a notebook becomes an entry of kind
``"not a notebook"`` (a zero row), older resubmissions are listed as superseded, and
hidden files, ``__MACOSX/`` and AppleDouble ``._*`` files are ignored and counted.
"""

from __future__ import annotations

import csv
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from autograder.notebook import safe_student_id

NOTEBOOK = "notebook"
NOT_NOTEBOOK = "not a notebook"

# Caps on one archive: a zip bomb or a million empty files stops with a clear message.
ZIP_MAX_MEMBERS = 20_000
ZIP_MAX_BYTES = 4 * 1024**3  # uncompressed, all members together
ZIP_MAX_MEMBER_BYTES = 512 * 1024**2
ZIP_MAX_DEPTH = 3  # zips inside zips

CANVAS = re.compile(
    r"^(?P<name>[A-Za-z0-9]+)_(?P<late>late_)?(?P<uid>\d+)_(?P<sid>\d+)_(?P<original>.+)$"
)
CANVAS_ATTEMPT = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)$")
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_[a-z]+_(?P<original>.*)$")


@dataclass(frozen=True)
class Entry:
    """One submission to grade (or to list as not a notebook)."""

    student: str  # path-safe id, unique in the class
    path: Path  # the file graded (inside a temporary folder for zips)
    kind: str = NOTEBOOK  # NOTEBOOK | NOT_NOTEBOOK
    source: str = ""  # where it came from, as the instructor would find it
    layout: str = "notebook"  # nbgrader | folder | notebook | canvas | moodle
    late: bool = False
    attempt: int = 0  # Canvas resubmission number N of ``-N``; 0 for the first
    lms_id: str = ""  # Canvas user id or Moodle participant id
    name: str = ""  # full name when the layout gives one (Moodle) or the roster does
    email: str = ""
    problem: str = ""  # why a file found cannot be graded, for the student's feedback


@dataclass
class Found:
    """Every file found under the paths given, sorted into what happens to it."""

    entries: list[Entry] = field(default_factory=list)
    superseded: list[Entry] = field(default_factory=list)  # older resubmissions, not graded
    ignored: list[str] = field(default_factory=list)  # hidden files, __MACOSX, ._*
    skip: set[Path] = field(default_factory=set)  # folders never walked (--out itself)


class ArchiveError(ValueError):
    """A zip that is unsafe or too large to extract."""


def collect(aid: str, paths: list[Path], workdir: Path, skip: tuple[Path, ...] = ()) -> Found:
    """Every submission under ``paths``; zips are extracted below ``workdir``.

    Folders in ``skip`` (the grader's ``--out``, when it lies among the submissions) are
    not looked into."""
    found = Found(skip={p.resolve() for p in skip})
    raw: list[Entry] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        _walk(aid, path, str(path), workdir, raw, found, depth=0)
    raw = _newest_per_student(raw, found)
    seen: dict[str, int] = {}
    for entry in raw:
        sid = safe_student_id(entry.student)
        n = seen.get(sid, 0)
        seen[sid] = n + 1
        found.entries.append(replace(entry, student=sid if n == 0 else f"{sid}-{n + 1}"))
    return found


def is_ignored(name: str) -> bool:
    """macOS metadata, AppleDouble files, editors' and Jupyter's hidden files and folders.

    A dot-named ``.ipynb`` is not ignored: it is a notebook handed in, graded under a
    path-safe id (the id rules rely on it)."""
    if name == "__MACOSX" or name.startswith("._"):
        return True
    return name.startswith(".") and not name.endswith(".ipynb")


def _walk(
    aid: str, path: Path, shown: str, workdir: Path, out: list[Entry], found: Found, depth: int
) -> None:
    if path.is_file():
        if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            _zip(aid, path, shown, workdir, out, found, depth, student=False)
        else:
            out.append(_file_entry(aid, path, shown))
        return
    if (path / aid).is_dir():  # submitted/<student> itself
        out.append(_nbgrader(aid, path.name, path / aid, shown))
        return
    children = sorted(c for c in path.iterdir() if c.resolve() not in found.skip)
    for child in children:
        if is_ignored(child.name):
            found.ignored.append(f"{shown}/{child.name}")
    children = [c for c in children if not is_ignored(c.name)]
    student_dirs = [d for d in children if d.is_dir() and (d / aid).is_dir()]
    if student_dirs:
        for d in student_dirs:
            out.append(_nbgrader(aid, d.name, d / aid, f"{shown}/{d.name}"))
        return
    if path.name == aid and path.parent.name:  # submitted/<student>/<aid>
        out.append(_nbgrader(aid, path.parent.name, path, shown))
        return
    folders = [c for c in children if c.is_dir()]
    files = [c for c in children if c.is_file()]
    moodle = [d for d in folders if MOODLE.match(d.name + ("" if d.name.endswith("_") else "_"))]
    for d in moodle:
        out.append(_moodle_folder(aid, d, f"{shown}/{d.name}", workdir, found, depth))
    for f in files:
        full = f"{shown}/{f.name}"
        if f.suffix.lower() == ".zip" and zipfile.is_zipfile(f):
            _zip(aid, f, full, workdir, out, found, depth, student=True)
        else:
            out.append(_file_entry(aid, f, full))
    for d in folders:  # a zip's top folder, or sections: never left out silently
        if d not in moodle:
            _walk(aid, d, f"{shown}/{d.name}", workdir, out, found, depth)


def _file_entry(aid: str, path: Path, shown: str) -> Entry:
    """A notebook or another file, its id from Canvas's or Moodle's name, else its stem."""
    kind = NOTEBOOK if path.suffix.lower() == ".ipynb" else NOT_NOTEBOOK
    canvas = CANVAS.match(path.name)
    if canvas:
        original = canvas["original"]
        stem, ext = (original.rsplit(".", 1) + [""])[:2] if "." in original else (original, "")
        attempt = CANVAS_ATTEMPT.match(stem)
        return Entry(
            canvas["name"],
            path,
            kind,
            shown,
            "canvas",
            late=bool(canvas["late"]),
            attempt=int(attempt["n"]) if attempt else 0,
            lms_id=canvas["uid"],
        )
    moodle = MOODLE.match(path.name)
    if moodle:
        return Entry(
            moodle["name"], path, kind, shown, "moodle", lms_id=moodle["uid"], name=moodle["name"]
        )
    return Entry(path.stem, path, kind, shown, "notebook")


def _nbgrader(aid: str, student: str, folder: Path, shown: str) -> Entry:
    path = pick_notebook(folder, aid)
    kind = NOTEBOOK if path.suffix.lower() == ".ipynb" or not path.exists() else NOT_NOTEBOOK
    return Entry(student, path, kind, shown, "nbgrader")


def _moodle_folder(
    aid: str, folder: Path, shown: str, workdir: Path, found: Found, depth: int
) -> Entry:
    match = MOODLE.match(folder.name if folder.name.endswith("_") else folder.name + "_")
    name, uid = match["name"], match["uid"]
    inner: list[Entry] = []
    _walk(aid, folder, shown, workdir, inner, found, depth)
    notebooks = [e for e in inner if e.kind == NOTEBOOK]
    preferred = [e for e in notebooks if e.path.name == f"{aid}.ipynb"]
    chosen = (preferred or notebooks or inner or [None])[0]
    if chosen is None:  # an empty folder: still the student's row
        return Entry(
            name, folder / f"{aid}.ipynb", NOTEBOOK, shown, "moodle", lms_id=uid, name=name
        )
    for other in inner:
        if other is not chosen:
            found.superseded.append(replace(other, student=name))
    return Entry(name, chosen.path, chosen.kind, chosen.source, "moodle", lms_id=uid, name=name)


def pick_notebook(folder: Path, aid: str) -> Path:
    """``<aid>.ipynb`` in a student's folder, else its first notebook, else its first file."""
    preferred = folder / f"{aid}.ipynb"
    if preferred.exists():
        return preferred
    files = sorted(p for p in folder.iterdir() if p.is_file() and not is_ignored(p.name))
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    if notebooks:
        return notebooks[0]
    return files[0] if files else preferred  # a missing file is reported per student


def _newest_per_student(entries: list[Entry], found: Found) -> list[Entry]:
    """Of a Canvas student's several files, the newest notebook; the rest are superseded.

    Newest: a notebook before any other file, then the highest resubmission number."""
    best: dict[str, Entry] = {}
    for e in entries:
        if e.layout != "canvas":
            continue
        old = best.get(e.student)
        if old is None or (e.kind == NOTEBOOK, e.attempt) > (old.kind == NOTEBOOK, old.attempt):
            best[e.student] = e
    kept = []
    for e in entries:
        if e.layout == "canvas" and best[e.student] is not e:
            found.superseded.append(e)
        else:
            kept.append(e)
    return kept


# --- zips ------------------------------------------------------------------------------------


def _zip(
    aid: str,
    path: Path,
    shown: str,
    workdir: Path,
    out: list[Entry],
    found: Found,
    depth: int,
    student: bool,
) -> None:
    """A class archive (walked like a folder) or one student's zip (graded: its notebook).

    A zip named on the command line is the class, unless Canvas or Moodle named it after a
    student; a zip found in a folder is the submission of the student it is named after. A
    student's unsafe or oversized zip is their zero row, never the end of the batch."""
    entry = _file_entry(aid, path, shown)
    student = student or entry.layout in ("canvas", "moodle")
    dest = workdir / f"zip{len(list(workdir.iterdir())) + 1}"
    if depth >= ZIP_MAX_DEPTH:
        if not student:
            raise ArchiveError(f"{shown}: zips nested more than {ZIP_MAX_DEPTH} deep")
        out.append(replace(entry, kind=NOT_NOTEBOOK, problem="a zip nested in zips"))
        return
    try:
        extract_zip(path, dest)
    except (ArchiveError, zipfile.BadZipFile, OSError) as exc:
        if not student:
            raise ArchiveError(f"{shown}: {exc}") from None
        out.append(replace(entry, kind=NOT_NOTEBOOK, problem=f"the zip was not opened: {exc}"))
        return
    if not student:
        _walk(aid, dest, shown, workdir, out, found, depth + 1)
        return
    inner: list[Entry] = []
    _walk(aid, dest, shown, workdir, inner, found, depth + 1)
    notebooks = [e for e in inner if e.kind == NOTEBOOK and e.path.is_file()]
    preferred = [e for e in notebooks if e.path.name == f"{aid}.ipynb"]
    chosen = (preferred or notebooks or [None])[0]
    if chosen is None:
        out.append(replace(entry, kind=NOT_NOTEBOOK, problem="the zip holds no notebook"))
        return
    out.append(replace(entry, path=chosen.path, kind=NOTEBOOK))


def extract_zip(path: Path, dest: Path) -> None:
    """Extract ``path`` into ``dest`` safely: no absolute names, no ``..``, no links, no
    devices, at most ``ZIP_MAX_MEMBERS`` members and ``ZIP_MAX_BYTES`` bytes (counted as
    written, whatever the archive declares)."""
    dest.mkdir(parents=True)
    root = dest.resolve()
    written = 0
    with zipfile.ZipFile(path) as zf:
        members = zf.infolist()
        if len(members) > ZIP_MAX_MEMBERS:
            raise ArchiveError(
                f"{path.name} has {len(members)} members (at most {ZIP_MAX_MEMBERS})"
            )
        for info in members:
            name = info.filename.replace("\\", "/")
            parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
            mode = info.external_attr >> 16
            if (
                name.startswith("/")
                or ".." in parts
                or (parts and ":" in parts[0])
                or stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR)  # links, devices
                or info.flag_bits & 0x1  # encrypted
            ):
                raise ArchiveError(f"{path.name}: unsafe member {info.filename!r}, not extracted")
            if not parts:
                continue
            target = root.joinpath(*parts)
            if root not in target.resolve().parents:
                raise ArchiveError(f"{path.name}: member {info.filename!r} leaves the folder")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "xb") as dst:
                size = 0
                while chunk := src.read(1 << 20):
                    size += len(chunk)
                    written += len(chunk)
                    if size > ZIP_MAX_MEMBER_BYTES or written > ZIP_MAX_BYTES:
                        raise ArchiveError(f"{path.name} is too large when extracted")
                    dst.write(chunk)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# --- the roster --------------------------------------------------------------------------------

_ID_COLUMNS = (
    "student",
    "id",
    "student id",
    "user id",
    "userid",
    "login id",
    "login_id",
    "sis user id",
    "sis login id",
    "sis_user_id",
    "username",
    "id number",
    "idnumber",
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def load_roster(path: Path) -> dict[str, dict[str, str]]:
    """A roster CSV: lookup key -> ``{"name", "email"}``.

    Keys are every id-like column (``id``, ``student``, ``login_id``, ``sis_user_id``,
    ``username``, ...), lower-cased, and the name with letters and digits only, in both
    orders (Canvas's file names use ``lastfirst``; its gradebook writes ``Last, First``)."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    roster: dict[str, dict[str, str]] = {}
    for row in rows:
        low = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        first = low.get("first name") or low.get("firstname") or ""
        last = low.get("last name") or low.get("lastname") or low.get("surname") or ""
        name = low.get("name") or low.get("full name") or f"{first} {last}".strip()
        if not name and "student" in low and any(k in low for k in _ID_COLUMNS if k != "student"):
            name = low["student"]  # Canvas's gradebook: Student is the name, ID the id
        email = next((v for k, v in low.items() if "email" in k and v), "")
        info = {"name": name, "email": email}
        for key in _ID_COLUMNS:
            if low.get(key):
                roster.setdefault(low[key].lower(), info)
        if email:
            roster.setdefault(email.lower(), info)
            roster.setdefault(email.split("@")[0].lower(), info)
        if name:
            parts = [p for p in re.split(r"[\s,]+", name) if p]
            roster.setdefault(_slug(name), info)
            if "," in name:  # "Last, First": also "firstlast"
                roster.setdefault(_slug("".join(parts[1:] + parts[:1])), info)
            elif len(parts) > 1:  # "First Last": also "lastfirst" (Canvas file names)
                roster.setdefault(_slug("".join(parts[-1:] + parts[:-1])), info)
    return roster


def roster_match(entry: Entry, roster: dict[str, dict[str, str]]) -> dict[str, str] | None:
    """The roster's person for this entry (by id, LMS id, name or name slug), or None."""
    for key in (entry.student, entry.lms_id, entry.name, _slug(entry.name), _slug(entry.student)):
        info = roster.get(key.lower()) if key else None
        if info:
            return info
    return None


def with_roster(entry: Entry, roster: dict[str, dict[str, str]]) -> Entry:
    """The entry with its name and email from the roster, when one of its ids is there."""
    info = roster_match(entry, roster)
    if info is None:
        return entry
    return replace(entry, name=info["name"] or entry.name, email=info["email"])


def absent(entries: list[Entry], roster: dict[str, dict[str, str]]) -> list[str]:
    """Names (or emails) of the roster's people that no entry matched: no submission."""
    matched = {id(info) for e in entries if (info := roster_match(e, roster)) is not None}
    people = {id(info): info for info in roster.values()}
    return sorted(
        info["name"] or info["email"] for key, info in people.items() if key not in matched
    )
