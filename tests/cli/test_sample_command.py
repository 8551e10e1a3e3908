"""`charlstm sample` through CliRunner: the seed it reports, escapes in --stop-at/--prime/
--separator, and where a stopped sample ends. Known answers come from the library's own
`generate_text` on the same checkpoint and seed.

(Named test_sample_command.py: tests/sampling/test_sample.py already holds the library's sampling tests,
and two test modules with one basename cannot be collected together.)"""

import re

import pytest
from conftest import VERSE
from typer.testing import CliRunner

from charlstm.cli import app


def invoke(*args, **kw):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False, **kw)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from charlstm.config import TrainConfig
    from charlstm.training.start import train
    d = tmp_path_factory.mktemp("sample")
    corpus = d / "verse.txt"
    corpus.write_text(VERSE * 12, encoding="utf-8")
    cfg = TrainConfig(batch_size=4, seq_len=16, lr=1e-2, warmup=0, steps=20, eval_every=20, log_every=5,
                      eval_chars=None, save_every=None, save_every_time=None, sample_every=0, seed=7,
                      precision="fp32", schedule="constant")
    list(train([corpus], dict(cell="lstm", embed=8, hidden=24, layers=1, dropout=0.0), cfg,
               run_dir=d / "checkpoints" / "run", device="cpu"))
    return d / "checkpoints"


def library_text(root, seed, length, prime=""):
    from charlstm.sampling.generate import SampleConfig, generate_text
    from charlstm.store import checkpoint
    model, tok = checkpoint.build_model(checkpoint.load(root / "run" / "best.pt"))
    return generate_text(model, tok, SampleConfig(length=length, seed=seed), prime)[0]


def test_sample_says_which_seed_it_drew_and_that_seed_repeats_the_text(root):
    a = invoke("sample", "--root", root, "-n", 60)
    assert a.exit_code == 0, a.output
    seed = int(re.search(r"seed (\d+) \(repeat with --seed (\d+)\)", a.stderr)[1])
    assert f"--seed {seed})" in a.stderr and "seed" not in a.stdout
    b = invoke("sample", "--root", root, "-n", 60, "--seed", seed)
    assert b.stdout == a.stdout
    assert f"seed {seed} (repeat with --seed {seed})" in b.stderr  # an explicit seed is reported too
    assert a.stdout == library_text(root, seed, 60) + "\n"


@pytest.mark.parametrize("typed", [r"\n", "\n"])  # the escape and a real line break mean the same
def test_stop_at_a_line_break_ends_with_exactly_that_line_break(root, typed):
    text = library_text(root, 3, 400)
    assert "\n" in text
    r = invoke("sample", "--root", root, "--seed", 3, "-n", 400, "--stop-at", typed, "--no-echo-prime")
    assert r.exit_code == 0, r.output
    assert r.stdout == text[:text.index("\n") + 1]  # no second line break after the stop string


def test_stop_at_a_string_without_a_line_break_still_ends_the_line(root):
    text = library_text(root, 3, 400)
    r = invoke("sample", "--root", root, "--seed", 3, "-n", 400, "--stop-at", "e", "--no-echo-prime")
    assert r.stdout == text[:text.index("e") + 1] + "\n"


def test_stop_at_escaped_backslash_is_literal(root):
    text = library_text(root, 3, 200)
    # r"\\n" is a backslash and an n, which the model never writes: the whole length comes out
    r = invoke("sample", "--root", root, "--seed", 3, "-n", 200, "--stop-at", r"\\n", "--no-echo-prime")
    assert r.stdout == text + "\n"


def test_lines_ends_after_the_last_line_break(root):
    text = library_text(root, 3, 400, "The ")
    second = text.index("\n", text.index("\n") + 1)
    r = invoke("sample", "--root", root, "--seed", 3, "-n", 400, "--lines", 2, "--prime", "The ")
    assert r.stdout == "The " + text[:second + 1]  # exactly two lines, no blank one after them


def test_prime_and_separator_escapes(root):
    r = invoke("sample", "--root", root, "--seed", 5, "-n", 30, "--prime", r"The lamp\nA cat")
    assert r.exit_code == 0, r.output
    assert r.stdout == "The lamp\nA cat" + library_text(root, 5, 30, "The lamp\nA cat") + "\n"
    r = invoke("sample", "--root", root, "--seed", 5, "-n", 20, "--num-samples", 3, "--separator", r"\t",
               "--no-echo-prime")
    assert r.stdout.count("\t") == 2 and len(r.stdout) == 3 * 20 + 2 + 1


def test_interactive_prompts_on_stderr_and_reads_piped_lines(root):
    r = invoke("sample", "--root", root, "--seed", 1, "-n", 10, "-i", input="The \nA cat\n")
    assert r.exit_code == 0, r.output
    assert r.stderr.count("prime>") == 3 and "prime>" not in r.stdout  # two primes, then Ctrl-D
    assert r.stdout.startswith("The ") and "\nA cat" in r.stdout


@pytest.mark.parametrize("engine", ["numpy", "fast", "plain"])
def test_min_p_1_keeps_only_the_likeliest_character(root, engine):
    """--min-p 1 keeps only characters as likely as the likeliest: whatever the seed and temperature, the
    text --temp 0 writes."""
    greedy = invoke("sample", "--root", root, "-n", "120", "--temp", "0", "--engine", engine).stdout
    for seed in (1, 2):
        got = invoke("sample", "--root", root, "-n", "120", "--temp", "1.5", "--min-p", "1", "--seed", seed,
                     "--engine", engine)
        assert got.exit_code == 0 and got.stdout == greedy


def test_min_p_filters_and_is_checked(root):
    lax = {invoke("sample", "--root", root, "-n", "200", "--temp", "1.5", "--seed", s).stdout for s in range(4)}
    tight = {invoke("sample", "--root", root, "-n", "200", "--temp", "1.5", "--min-p", "0.5", "--seed", s).stdout
             for s in range(4)}
    assert len(lax) == 4 and tight != lax  # the filter changes what is drawn
    bad = CliRunner().invoke(app, ["sample", "--root", str(root), "--min-p", "1.5"])
    assert bad.exit_code != 0 and "--min-p must be in [0, 1], got 1.5" in bad.output
