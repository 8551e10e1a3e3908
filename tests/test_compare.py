"""compare: each cell type at about the first one's parameter count, trained alike."""

import pytest
from conftest import TINY_MODEL

from charlstm.compare import compare, plan
from charlstm.errors import ConfigError
from charlstm.events import Started, Stopped


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
