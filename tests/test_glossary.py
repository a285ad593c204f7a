"""course/GLOSSARY.md against the lectures: every term is introduced, with its Russian name in brackets."""

import json
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]
GLOSSARY = REPO / "course" / "GLOSSARY.md"
LECTURES = {p.name[:2]: p for p in sorted((REPO / "course").glob("[0-9][0-9]_*.ipynb"))}


def _rows() -> list[tuple[str, str, str]]:
    """(English, Russian, first-in) for every table row below the header."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("English", "---"):
            rows.append(tuple(cells))
    return rows


def _first_name(cell: str) -> str:
    """The main name of a glossary cell: the text before any bracket or comma."""
    return re.split(r"\s*[(,]", cell, maxsplit=1)[0].strip()


def _normalise(text: str) -> str:
    return text.replace("ё", "е").replace("Ё", "Е")


def _stem(word: str) -> str:
    """Drop a Russian ending so that "свёртка" also matches "свёртки" and "вес" matches "веса"."""
    if len(word) >= 6:
        return word[:-2]
    if len(word) >= 4:
        return word[:-1]
    return word


def _in_brackets(russian: str) -> re.Pattern:
    """The Russian name, in any grammatical case, inside an open round bracket."""
    words = [re.escape(_stem(w)) + r"[\w-]*" for w in _normalise(russian).split()]
    return re.compile(r"\([^()]*?(?<![\w-])" + r"\s+".join(words), re.IGNORECASE)


def _given(russian: str, text: str) -> bool:
    return bool(_in_brackets(russian).search(_normalise(text)))


def _markdown(path: pathlib.Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return _normalise(
        "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    )


def test_glossary_has_terms():
    """Does the glossary table parse into a few dozen terms, each naming a lecture that exists?"""
    rows = _rows()
    assert len(rows) > 40
    unknown = [(en, where) for en, _, where in rows if where not in LECTURES]
    assert not unknown, f"'first in' must be a lecture number {sorted(LECTURES)}: {unknown}"


def test_glossary_is_alphabetical():
    """Are the terms in alphabetical order (ignoring case), as the glossary says?"""
    english = [en for en, _, _ in _rows()]
    assert english == sorted(english, key=str.lower)
    assert len(set(english)) == len(english), "a term is listed twice"


def test_each_russian_name_is_given_in_brackets_in_its_lecture():
    """Does the lecture named in 'first in' use each English term and give its Russian name in brackets?"""
    missing = []
    for en, ru, where in _rows():
        text = _markdown(LECTURES[where])
        english = _first_name(en).lower()
        if english not in text.lower():
            missing.append(f"{en}: the English term is not in lecture {where}")
        if not _given(_first_name(ru), text):
            missing.append(f"{en}: '({_first_name(ru)}' is not in lecture {where}")
    assert not missing, "\n".join(missing)


def test_the_bracket_check_can_fail():
    """Does the check reject a name outside brackets and accept an inflected one inside?"""
    assert _given("свёртка", "(свёртки)")
    assert _given("вес", "weights (веса)")
    assert _given("функция потерь", "(loss, функции\nпотерь)")
    assert not _given("свёртка", "свёртка без скобок")
    assert not _given("эпоха", "(the epoch) эпоха")
    assert not _given("сеть", "(нейросеть)")
