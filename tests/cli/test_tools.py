"""eval, info, runs, plot, corpora, and the sampling extras (stop conditions, file output,
interactive mode, novelty), through Typer's CliRunner."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import VERSE
from typer.testing import CliRunner

from charlstm.cli import app

TINY = ["--hidden", "16", "--embed", "8", "--layers", "1", "-b", "4", "--seq-len", "16", "--eval-every", "5",
        "--plain", "--precision", "fp32", "--device", "cpu"]


def invoke(*args, **kw):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False, **kw)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    corpus = d / "verse.txt"
    corpus.write_text(VERSE * 12, encoding="utf-8")
    for name, steps in (("first", 10), ("second", 15)):
        r = invoke("train", corpus, "--root", d / "checkpoints", "--name", name, "--steps", steps, *TINY)
        assert r.exit_code == 0, r.output
    return d


def test_eval_matches_the_library_and_explains_unknown_characters(runs, tmp_path):
    from charlstm.api import load
    from charlstm.training.evaluate import evaluate
    text = "The cat slept on the chair. Zebra €\nA kettle sang.\n"
    f = tmp_path / "t.txt"
    f.write_text(text, encoding="utf-8")
    run = runs / "checkpoints" / "first"
    r = invoke("eval", run, f, "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    model, tok = load(run)
    known = [tok.stoi[c] for c in text if c in tok.stoi]
    expected = evaluate(model, np.array(known), batch_size=64, seq_len=256)
    assert got["nats_per_char"] == pytest.approx(expected, abs=1e-5)
    assert got["bits_per_char"] == pytest.approx(expected / math.log(2), abs=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(expected), rel=1e-4)
    assert got["chars"] == len(known) - 1 and got["unknown_chars"] == sum(c not in tok.stoi for c in text) > 0
    assert "€" in r.stderr and "left out" in r.stderr
    plain = invoke("eval", run, f)
    assert "nats/char" in plain.stdout and "perplexity" in plain.stdout


def test_info_and_runs_tables(runs):
    root = runs / "checkpoints"
    r = invoke("info", root / "second")
    assert r.exit_code == 0, r.output
    for word in ("second", "lstm 1×16", "parameters", "vocabulary", "step 15", "best val", "verse.txt", "torch"):
        assert word in r.stdout, word
    broken = root / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "last.pt").write_bytes(b"not a checkpoint")
    r = invoke("runs", "--root", root)
    assert r.exit_code == 0, r.output
    assert "first" in r.stdout and "second" in r.stdout and "unreadable" in r.stdout
    assert "broken" in r.stderr and "corrupt" in r.stderr  # why, on stderr
    order = [line.split("│")[1].strip() for line in r.stdout.splitlines() if line.startswith("│")]
    names = [n for n in order if n in ("broken", "second", "first")]
    assert names == ["broken", "second", "first"]  # newest first
    import shutil
    shutil.rmtree(broken)  # the other tests sample from the newest run
    assert invoke("runs", "--root", runs / "nothing").exit_code == 1


def test_plot_writes_png_and_svg_or_says_how_to_install(runs, tmp_path, monkeypatch):
    root = runs / "checkpoints"
    import matplotlib  # noqa: F401  (a declared test dependency)
    r = invoke("plot", root / "first", root / "second", "--output", tmp_path / "c.png")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = invoke("plot", root / "first", "--output", tmp_path / "c.svg", "--x", "time")
    svg = (tmp_path / "c.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    r = CliRunner().invoke(app, ["plot", str(root / "first"), "--output", str(tmp_path / "d.png")])
    assert r.exit_code == 1 and "charlstm[plot]" in r.stderr and not (tmp_path / "d.png").exists()


def test_sample_stop_conditions_output_file_and_novelty(runs, tmp_path):
    root = runs / "checkpoints"
    r = invoke("sample", "--root", root, "--seed", 3, "-n", 400, "--lines", 2, "--prime", "The ")
    assert r.exit_code == 0, r.output
    assert r.stdout.count("\n") == 2 and r.stdout.endswith("\n")  # two lines; no blank line after them
    r = invoke("sample", "--root", root, "--seed", 3, "-n", 400, "--stop-at", "e", "--no-echo-prime")
    assert r.stdout.rstrip("\n").endswith("e") and r.stdout.count("e") == 1
    out = tmp_path / "s.txt"
    r = invoke("sample", "--root", root, "--seed", 3, "-n", 50, "--output", out, "--novelty")
    assert r.exit_code == 0, r.output
    assert r.stdout == "" and len(out.read_text(encoding="utf-8")) == 51
    assert "novelty:" in r.stderr and "5-grams" in r.stderr and "20-grams" in r.stderr


def test_interactive_mode_continues_each_prime(runs):
    root = runs / "checkpoints"
    r = invoke("sample", "--root", root, "--seed", 1, "-n", 20, "--interactive", input="The \nA cat\nZ!\n\n")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert any(line.startswith("The ") for line in lines) and any(line.startswith("A cat") for line in lines)
    assert "error:" in r.stderr and "'Z'" in r.stderr  # a bad prime is reported, the session goes on
    assert r.stderr.count("prime>") == 4


def test_until_known_answers():
    from charlstm.sampling.sampler import until
    steps = iter([list(p) for p in ("ax", "bx", "\n\n", "cx", "d\n", "\nx", "ex")])
    got = list(until(steps, lines=2))  # sample 1 ends with its 2nd line break at step 5, sample 0 at step 6
    assert ["".join(c or "_" for c in s) for s in got] == ["ax", "bx", "\n\n", "cx", "d\n", "\n_"]
    got = list(until(iter([list(p) for p in ("ab", "bb", "cb", "db")]), stop_at="bc"))
    assert ["".join(c or "_" for c in s) for s in got] == ["ab", "bb", "cb", "_b"]  # sample 0 ends at 'c'


def test_novelty_known_answers():
    from charlstm.sampling.novelty import copied_share, ngram_hashes
    train = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    gen = np.array([0, 1, 2, 3, 9, 9, 9])  # 3-grams: 012 123 239 399 999 -> 2 of 5 in the training text
    assert copied_share(gen, ngram_hashes(train, 3), 3) == (pytest.approx(0.4), 5)
    assert copied_share(train, ngram_hashes(train, 3), 3) == (1.0, 6)
    assert copied_share(np.array([1, 2]), ngram_hashes(train, 3), 3) == (0.0, 0)


def test_checkpoint_metadata_loads_mapped(runs):
    from charlstm.store.checkpoint import load
    ck = load(runs / "checkpoints" / "first" / "last.pt", mmap=True)
    assert ck["step"] == 10 and isinstance(ck["model"]["head.weight"], torch.Tensor)


def test_fit_for_notebooks_returns_a_summary(tmp_path, corpus_file, capsys):
    from charlstm import fit, load
    summary = fit(corpus_file, steps=6, root=tmp_path, name="nb", hidden=16, embed=8, layers=1, batch_size=4,
                  seq_len=16, eval_every=3, precision="fp32", device="cpu")
    assert summary["steps"] == 6 and summary["reason"] == "done" and summary["best_val_loss"] > 0
    assert Path(summary["run_dir"]) == tmp_path / "nb"
    model, tok = load(summary["run_dir"])
    assert model.config.hidden == 16 and model.config.dropout == 0.1  # the rest from the preset (small)
    captured = capsys.readouterr()
    assert "val" in captured.out + captured.err  # one line per evaluation


def test_novelty_report_counts_within_samples_only(runs):
    from charlstm.api import load
    from charlstm.sampling.novelty import report
    run = runs / "checkpoints" / "first"
    _, tok = load(run)
    shares, n_train = report(run, tok, ["The lamp was lit", "and every window"], 0.1, sizes=(5, 12))
    assert shares == {5: 1.0, 12: 1.0}  # joined, "litand" would be a 5-gram the text never has
    assert n_train == len(VERSE * 12) - int(len(VERSE * 12) * 0.1)
    shares, _ = report(run, tok, ["lamp lamp lamp"], 0.1, sizes=(5,))
    assert shares[5] == pytest.approx(4 / 10)  # "lamp " and " lamp" (twice each) occur; "amp l" etc. do not
    assert report(run.parent, tok, ["x"], 0.1) is None  # no token cache there
