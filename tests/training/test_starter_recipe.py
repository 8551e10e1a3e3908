"""tools/make_starter.py's corpus recipe: each work's tail is held out (each book of a collection such
as Jane Austen's novels, not the last book), whatever the number of texts, and the starter records
what it read."""

import importlib.util
from pathlib import Path

from charlstm.data.corpus import split
from charlstm.data.tokenfile import Tokens

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("make_starter", ROOT / "tools" / "make_starter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _texts(folder: Path) -> list[Path]:
    """pydocs (one work), austen (the five titles of the real collection, books of different lengths)
    and tinyshakespeare (one work), small."""
    from charlstm.data.corpora import AUSTEN
    books = "\n\n\n".join(f"{b.title}\n\nBy Jane Austen\n\n" + "".join(f"{i} she said.\n" for i in range(200 + 97 * k))
                          for k, b in enumerate(AUSTEN.books))
    out = []
    for name, text in (("pydocs", "".join(f"{i} Return x.\n" for i in range(977))), ("austen", books),
                       ("tinyshakespeare", "".join(f"{i} ROMEO:\nO.\n" for i in range(451)))):
        out.append(folder / f"{name}.txt")
        out[-1].write_text(text, encoding="utf-8")
    return out


def test_the_validation_split_is_exactly_each_works_last_tenth(tmp_path):
    tool = _tool()
    texts = _texts(tmp_path)
    files, fraction = tool.recipe(texts, tmp_path / "texts")
    names = ["pydocs", *(f"austen-{k}" for k in range(1, 6)), "tinyshakespeare"]
    assert [f.name for f in files] == [f"{i + 1:02d}-{n}.txt" for i, n in enumerate(names)] + \
        [f"{i + 8:02d}-{n}-held-out.txt" for i, n in enumerate(names)]
    read = [f.read_text(encoding="utf-8") for f in files]
    works = [texts[0].read_text(encoding="utf-8"), *tool.works(texts[1].read_text(encoding="utf-8"),
                                                               tool.titles(texts[1])),
             texts[2].read_text(encoding="utf-8")]
    assert [w.split("\n", 1)[0] for w in works[1:6]] == ["SENSE AND SENSIBILITY", "PRIDE AND PREJUDICE",
                                                         "MANSFIELD PARK", "EMMA", "NORTHANGER ABBEY"]
    for i, whole in enumerate(works):  # head + tail is the work, cut at a line break near 90%
        assert read[i] + read[i + 7] == whole and read[i].endswith("\n")
        assert abs(len(read[i]) / len(whole) - 0.9) < 0.01
    ids = Tokens([ord(c) for c in "".join(read)])
    _, val = split(ids, fraction)
    assert "".join(map(chr, val.read())) == "".join(read[7:])  # charlstm holds out exactly the seven tails

    record = tool.sources(texts)
    assert [(r["name"], r["licence"]) for r in record] == [
        ("pydocs.txt", "PSF License Agreement"), ("austen.txt", "public domain"),
        ("tinyshakespeare.txt", "public domain")]
    assert [r["chars"] for r in record] == [len(p.read_text(encoding="utf-8")) for p in texts]
    assert sum(r["held_out"] for r in record) == sum(map(len, read[7:]))


def test_a_missing_title_is_one_clear_line(tmp_path, capsys):
    import pytest
    tool = _tool()
    with pytest.raises(SystemExit) as e:
        tool.works("EMMA\n\ntext\n", ("EMMA", "PERSUASION"))
    assert "'PERSUASION' is not on a line of its own" in str(e.value)
