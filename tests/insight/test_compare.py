"""compare: each cell type at about the first one's parameter count, trained alike."""

import pytest
from conftest import TINY_MODEL

from charlstm.errors import CharLSTMError, ConfigError
from charlstm.events import Started, Stopped
from charlstm.insight.compare import compare, folder, plan, samples


def test_cells_are_matched_in_size_and_trained_alike(tmp_path, corpus_file, tiny_config):
    model = dict(TINY_MODEL, hidden=16, layers=1)
    (c0, h0, n0), (c1, h1, n1) = plan([corpus_file], ["lstm", "gru"], model)
    assert (c0, h0, c1) == ("lstm", 16, "gru") and h1 > h0  # a GRU layer has 3 weight blocks to the LSTM's 4
    assert abs(n1 - n0) / n0 < 0.05
    results, kinds = {}, []
    for result, ev in compare([corpus_file], ["lstm", "gru"], model, tiny_config(steps=6, eval_every=3), tmp_path,
                              device="cpu"):
        results[result.cell] = result
        kinds.append((result.cell, type(ev)))
    assert [k for k in kinds if k[1] in (Started, Stopped)] == [("lstm", Started), ("lstm", Stopped),
                                                               ("gru", Started), ("gru", Stopped)]
    for cell, r in results.items():
        assert (r.hidden, r.params) == ((h0, n0) if cell == "lstm" else (h1, n1))
        times = [t for t, _ in r.curve]  # evaluations at steps 3 and 6, by training time
        assert r.steps == 6 and len(times) == 2 and 0 < times[0] < times[1]
        assert r.chars_per_s > 0 and r.best_val_loss == min(v for _, v in r.curve)
        assert (tmp_path / cell / "last.pt").exists()
    from charlstm.sampling.generate import SampleConfig, generate_text
    from charlstm.store import checkpoint
    got = samples(list(results.values()), seed=1, length=20)
    assert list(got) == ["lstm", "gru"]
    for cell, text in got.items():  # from best.pt, at temperature 0.8 and the seed given
        model, tok = checkpoint.build_model(checkpoint.load(tmp_path / cell / "best.pt"))
        assert text == generate_text(model, tok, SampleConfig(length=20, temperature=0.8, seed=1))[0]


def test_unknown_cells_are_refused():
    with pytest.raises(ConfigError, match="--cells takes a comma list of lstm, gru, rnn; got lsmt"):
        plan(["unused.txt"], ["lsmt"], {})
    with pytest.raises(ConfigError, match="got nothing"):
        plan(["unused.txt"], [], {})


def test_no_cell_starts_once_a_stop_was_asked(tmp_path, corpus_file, tiny_config):
    asked = {"stop": False}
    seen = []
    for result, ev in compare([corpus_file], ["lstm", "gru", "rnn"], dict(TINY_MODEL, hidden=16, layers=1),
                              tiny_config(steps=50, eval_every=100), tmp_path, device="cpu",
                              should_stop=lambda: asked["stop"]):
        seen.append((result.cell, type(ev).__name__))
        asked["stop"] = True  # Ctrl-C during the first cell
    assert seen[-1] == ("lstm", "Stopped") and {c for c, _ in seen} == {"lstm"}
    assert not (tmp_path / "gru").exists() and not (tmp_path / "rnn").exists()


def test_a_comparison_refused_before_its_first_cell_leaves_no_folder_it_made(tmp_path, tiny_config):
    short = tmp_path / "short.txt"
    short.write_text("ab")  # read for the vocabulary, then refused by the first cell's setup, in the folder made for it
    with pytest.raises(CharLSTMError, match="corpus too short"):
        list(compare([short], ["lstm", "gru"], dict(TINY_MODEL), tiny_config(steps=1), tmp_path / "cmp", device="cpu"))
    assert not (tmp_path / "cmp").exists()
    (tmp_path / "kept").mkdir()  # a folder that was there before stays
    with pytest.raises(CharLSTMError, match="corpus too short"):
        list(compare([short], ["lstm"], dict(TINY_MODEL), tiny_config(steps=1), tmp_path / "kept", device="cpu"))
    assert (tmp_path / "kept").is_dir()


def test_the_folder_is_named_or_dated(tmp_path):
    import re
    assert folder(tmp_path, "mine") == tmp_path / "mine"
    assert folder(tmp_path).parent == tmp_path and re.fullmatch(r"compare-\d{8}-\d{6}", folder(tmp_path).name)
