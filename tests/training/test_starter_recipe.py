"""tools/make_starter.py's corpus recipe: each text's tail is held out, whatever the number of texts."""

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


def test_the_validation_split_is_exactly_each_texts_last_tenth(tmp_path):
    tool = _tool()
    texts = []
    for name, line, n in (("a", "alpha beta\n", 977), ("b", "gamma\n", 1313), ("c", "delta epsilon zeta\n", 451)):
        texts.append(tmp_path / f"{name}.txt")
        texts[-1].write_text("".join(f"{i} {line}" for i in range(n)), encoding="utf-8")
    files, fraction = tool.recipe(texts, tmp_path / "texts")
    assert [f.name for f in files] == ["1-a.txt", "2-b.txt", "3-c.txt", "4-a-held-out.txt", "5-b-held-out.txt",
                                       "6-c-held-out.txt"]
    read = [f.read_text(encoding="utf-8") for f in files]
    for i, text in enumerate(texts):  # head + tail is the text, cut at a line break near 90%
        whole = text.read_text(encoding="utf-8")
        assert read[i] + read[i + 3] == whole and read[i].endswith("\n")
        assert abs(len(read[i]) / len(whole) - 0.9) < 0.01
    ids = Tokens([ord(c) for c in "".join(read)])
    _, val = split(ids, fraction)
    assert "".join(map(chr, val.read())) == "".join(read[3:])  # charlstm holds out exactly the three tails


def test_the_reference_text_is_the_help_topics_in_order(tmp_path):
    from pydoc_data.topics import topics
    text = _tool().python_reference(tmp_path).read_text(encoding="utf-8")
    first, last = sorted(topics)[0], sorted(topics)[-1]
    assert text.startswith(topics[first].strip()[:200]) and text.rstrip().endswith(topics[last].strip()[-200:])
    assert len(text) > 100_000
