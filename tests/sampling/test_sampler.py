"""sampling/sampler.py: which checkpoint a sampler opens (the starter standing in before any run),
and a round's text, known answers from `generate_text` on the same model and seed. Runs on the
starter model shipped in assets/, so nothing is trained here."""

import pytest

from charlstm.errors import CheckpointError, PrimeError
from charlstm.sampling.generate import SampleConfig, generate_text
from charlstm.sampling.sampler import RoundOptions, ends_line, open_sampler
from charlstm.store import starter


@pytest.fixture(scope="module")
def sampler(tmp_path_factory):
    return open_sampler(None, root=tmp_path_factory.mktemp("noruns"), device="cpu")


def library_text(sampler, cfg, prime=""):
    return generate_text(sampler.model, sampler.tokenizer, cfg, prime)


def test_with_no_run_yet_the_starter_stands_in(sampler):
    assert sampler.is_starter and sampler.path == starter.path() and str(sampler.device) == "cpu"


def test_a_named_starter_is_not_standing_in_and_a_root_that_is_a_file_has_no_runs(tmp_path):
    named = open_sampler("starter", root=tmp_path, device="cpu")
    assert named.path == starter.path() and not named.is_starter
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CheckpointError, match="no runs under"):
        open_sampler(None, root=tmp_path / "afile", device="cpu")


def test_one_sample_is_the_prime_then_the_text_then_one_line_break(sampler):
    cfg = SampleConfig(length=80, seed=4)
    r = sampler.round("The ", cfg)
    pieces = list(r)
    text = library_text(sampler, cfg, "The ")[0]
    assert "".join(pieces) == "The " + text + "\n"
    assert pieces[0] == "The " and len(pieces) == 1 + 80 + 1  # streamed character by character
    assert r.texts == [text]


def test_several_samples_are_joined_by_the_separator(sampler):
    cfg = SampleConfig(length=30, seed=2, num_samples=3)
    r = sampler.round("A", cfg, RoundOptions(separator="|"))
    texts = library_text(sampler, cfg, "A")
    assert "".join(r) == "|".join("A" + t for t in texts) + "\n"
    assert r.texts == texts
    no_echo = sampler.round("A", cfg, RoundOptions(separator="|", echo_prime=False))
    assert "".join(no_echo) == "|".join(texts) + "\n"


def test_a_stop_at_a_line_break_ends_the_text_with_that_line_break_only(sampler):
    cfg = SampleConfig(length=200, seed=1)
    text = library_text(sampler, cfg)[0]
    assert 3 < text.index("\n")
    r = sampler.round("", cfg, RoundOptions(stop_at="\n"))
    assert "".join(r) == text[:text.index("\n") + 1]
    stopped = sampler.round("", cfg, RoundOptions(stop_at=text[:3], echo_prime=False))
    assert "".join(stopped) == text[:3] + "\n"  # a stop text without a line break still ends the line


def test_a_prime_the_model_cannot_read_is_refused_before_any_text(sampler):
    with pytest.raises(PrimeError, match="€"):
        sampler.round("a€", SampleConfig(length=5, seed=1))
    skipped = sampler.round("a€", SampleConfig(length=5, seed=1), RoundOptions(skip_unknown=True))
    assert "".join(skipped).startswith("a") and "€" not in "".join(skipped)


def test_the_starter_has_no_training_text_for_novelty(sampler):
    assert sampler.novelty(["The lamp"]) is None


@pytest.mark.parametrize("text, stop_at, lines, ended", [
    ("ab\n", "\n", None, True), ("ab", "b", None, False), ("a\nb\n", None, 2, True), ("a\nb", None, 2, False),
    ("ab\n", None, None, False), ("a\nb\n", None, 3, False)])
def test_which_stops_end_the_line(text, stop_at, lines, ended):
    assert ends_line(text, stop_at, lines) is ended
