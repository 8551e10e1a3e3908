import pytest
from conftest import TINY_MODEL
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.training.start import train


@pytest.fixture
def run_dir(tmp_path, corpus_file, tiny_config):
    d = tmp_path / "ck" / "run"
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=30), run_dir=d))
    return d


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_inspect_find_and_html(run_dir, tmp_path):
    page = tmp_path / "unit.html"
    r = invoke("inspect", run_dir, "--find", "quotes", "--text", 'The cat said "hi" (twice).\n', "--html", page)
    assert r.exit_code == 0, r.output
    assert "track 'quotes'" in r.stdout and "correlation" in r.stdout  # results on stdout
    assert f"wrote {page}" in r.stderr.replace("\n", "") and "wrote" not in r.stdout  # notes on stderr
    from charlstm.store import checkpoint
    vocab = checkpoint.load(run_dir / "best.pt")["vocab"]["chars"]
    shown = [c for c in 'The cat said "hi" (twice).\n' if c in vocab]  # unknown characters are skipped
    assert 0 < len(shown) < 27 and page.read_text().count("<span title=") == len(shown)


def test_inspect_defaults_to_the_runs_validation_text(run_dir):
    r = invoke("inspect", run_dir, "--chars", 50, "--state", "h", "--layer", 1)
    assert r.exit_code == 0, r.output
    assert "h of layer 1, unit" in r.stdout and r.stderr == ""


def test_inspect_errors(run_dir):
    r = invoke("inspect", run_dir, "--layer", 5, "--text", "the cat")
    assert r.exit_code == 1 and "--layer 5" in r.stderr
    r = invoke("inspect", run_dir, "--find", "vowels", "--text", "the cat")
    assert r.exit_code == 2 and "--find" in r.output  # a usage error, before the model is loaded


def test_gates_table_and_svg(run_dir, tmp_path):
    svg = tmp_path / "g.svg"
    r = invoke("gates", run_dir, "--text", "The lamp was lit before the rain began,\n" * 3, "--svg", svg)
    assert r.exit_code == 0, r.output
    for word in ("input", "forget", "output", "left < 0.1"):
        assert word in r.stdout
    assert "wrote" in r.stderr and "wrote" not in r.stdout
    assert svg.read_text().count("<circle") == 2 * 3 * TINY_MODEL["hidden"]  # layers x gates x units


def test_gates_refuses_a_cell_without_gates_in_one_line(tmp_path, corpus_file, tiny_config):
    d = tmp_path / "ck" / "plain"
    list(train([corpus_file], {**TINY_MODEL, "cell": "rnn"}, tiny_config(steps=2), run_dir=d))
    r = invoke("gates", d, "--text", "The lamp")
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.strip() == "error: a plain RNN (rnn) has no gates; use an lstm or gru checkpoint"


def test_compare_three_cells(tmp_path, corpus_file):
    r = invoke("compare", corpus_file, "--cells", "lstm,gru,rnn", "--steps", 6, "--hidden", 16, "--embed", 8,
               "-b", 4, "--seq-len", 16, "--eval-every", 3, "--root", tmp_path, "--name", "cmp", "--plain",
               "--quiet")
    assert r.exit_code == 0, r.output
    table = r.stdout[r.stdout.index("cell comparison"):]
    rows = [line for line in table.splitlines() if line.startswith("│ ")]
    assert [row.split("│")[1].strip() for row in rows] == ["lstm", "gru", "rnn"]
    assert {p.name for p in (tmp_path / "cmp").iterdir()} == {"lstm", "gru", "rnn"}
    assert "rnn sample:" in r.stdout and "rnn sample:" not in r.stderr  # results on stdout
    assert "runs in" in r.stderr and "runs in" not in r.stdout


def test_compare_matches_parameter_counts():
    from charlstm.config import param_count
    from charlstm.insight.compare import matched_hidden
    target = param_count("lstm", 65, 128, 256, 2)
    for cell in ("gru", "rnn"):
        h = matched_hidden(cell, 65, 128, 2, target)
        assert abs(param_count(cell, 65, 128, h, 2) - target) / target < 0.01
