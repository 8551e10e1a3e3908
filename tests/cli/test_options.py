"""The choices and small parsers in cli/options.py: known answers, and agreement with the library
modules that own each list (options.py spells some out so that `--help` needs no torch)."""

import pytest
import typer

from charlstm.cli import options


@pytest.mark.parametrize("typed, meant", [
    (r"a\nb", "a\nb"),
    (r"a\\nb", "a\\nb"),  # an escaped backslash, then a plain n
    (r"\n\n", "\n\n"),
    (r"col\tcol", "col\tcol"),
    (r"\\", "\\"),
    (r"C:\path", r"C:\path"),  # other backslashes are kept as typed
    ("trailing\\", "trailing\\"),
    ("already\nreal", "already\nreal"),  # bash's $'\n' still works
    ("", ""),
    (None, None),
])
def test_unescape_known_answers(typed, meant):
    assert options.unescape(typed) == meant


def test_choices_agree_with_the_library():
    from charlstm import config, tokenizer
    from charlstm.data import textfiles
    from charlstm.insight import gates as introspect
    from charlstm.sampling import generate as sample
    from charlstm.training import precision, sizing

    def values(enum):
        return [m.value for m in enum]
    assert values(options.Cell) == list(config.CELLS)
    assert values(options.Preset) == list(sizing.PRESET_NAMES)
    assert values(options.Schedule) == list(config.SCHEDULES)
    assert values(options.Optimizer) == list(config.OPTIMIZERS)
    assert set(values(options.PrecisionKind)) == set(precision.PRECISIONS)
    assert set(values(options.Engine)) == set(sample.ENGINES)
    assert values(options.Normalization) == list(tokenizer.NORMALIZATIONS)
    assert set(values(options.Newline)) == set(textfiles.NEWLINES)
    assert values(options.Feature) == list(introspect.FEATURES)
    for e in values(options.Errors):
        textfiles.ReadOptions(errors=e)  # each one is accepted


def test_choices_are_plain_strings_underneath():
    assert options.Cell.lstm == "lstm" and options.Cell("gru").value == "gru"
    assert options.Normalization.none.value == "none"


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:3", "mps"])
def test_device_names_accepted(name):
    assert options.check_device(name) == name


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "CPU", "cuda0", "", "cpu:0"])
def test_device_names_refused(name):
    with pytest.raises(typer.BadParameter, match="auto, cpu, cuda, cuda:N, mps"):
        options.check_device(name)


def test_device_completion_offers_the_kinds():
    assert options.complete_device("") == ["auto", "cpu", "cuda", "cuda:0", "cuda:1", "mps"]
    assert options.complete_device("cu") == ["cuda", "cuda:0", "cuda:1"]


def test_kept_copies_the_option_with_its_own_default_text():
    from typing import get_args
    typ, info = get_args(options.KeptEvalEvery)
    assert info.show_default == "the run's" and typ == get_args(options.EvalEvery)[0]
    assert get_args(options.EvalEvery)[1].show_default is not None  # the shared alias is left as it was
    assert get_args(options.EvalEvery)[1].show_default != "the run's"
