"""Every `charlstm ...` command README.md and docs/*.md show, in a shell block or inline, is parsed by the
real command line (each option must exist and take the values given); the cheap ones are also run."""

from __future__ import annotations

import re

import pytest
import typer
from docs_reading import CHARLSTM
from typer.testing import CliRunner

from charlstm.cli import app

try:  # typer 0.28 carries its own copy of click; earlier versions use click itself
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:
    from click.exceptions import NoArgsIsHelpError, UsageError


def parse(argv: list[str]) -> list[str]:
    """Parse `charlstm ARGV` as the real command line would, down to the last subcommand, without running it.
    Returns the command path (e.g. ['corpora', 'get']). A usage error (an option that does not exist, a value
    of the wrong type or arity, a missing or extra argument, an unknown command) raises UsageError. The options
    that act and exit instead of setting a value (--version, --install-completion, --show-completion: eager or
    not passed to the command) end parsing as they do in the CLI, without acting; --help prints the help. The
    other options' callbacks run, since they check values."""
    cmd = typer.main.get_command(app)
    path, parent, args = [], None, list(argv)
    while True:
        for p in cmd.params:  # this command object is ours alone: get_command builds a new one per call
            if p.is_eager or not p.expose_value:
                p.callback = lambda ctx, param, value: ctx.exit() if value else value
        try:
            ctx = cmd.make_context(path[-1] if path else "charlstm", args, parent=parent, resilient_parsing=False)
        except typer.Exit:  # an eager option
            return path
        except NoArgsIsHelpError:  # bare `charlstm train`: names the command, shows its help
            return path
        if not hasattr(cmd, "resolve_command"):  # not a group
            return path
        rest = [*getattr(ctx, "_protected_args", ()), *ctx.args]
        if not rest:
            if not (cmd.invoke_without_command or cmd.no_args_is_help):
                raise UsageError("Missing command.", ctx)
            return path
        name, sub, args = cmd.resolve_command(ctx, rest)
        path, parent, cmd = [*path, name], ctx, sub


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty home folder: had a completion option acted, its script would land here, not in the user's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    yield tmp_path / "home"
    assert list((tmp_path / "home").iterdir()) == []


@pytest.mark.parametrize("command", CHARLSTM, ids=lambda c: f"{c.where} {' '.join(c.argv)}")
def test_documented_command_parses(command, home):
    notation = [w for w in command.argv if re.search(r"^\[|\]$|\.\.\.$|^<.*>$", w)]
    assert notation == [], f"{command.where}: `{command.line}` is a synopsis, not a command: mark it ```text"
    try:
        parse(list(command.argv))
    except UsageError as e:
        pytest.fail(f"{command.where}: `{command.line}`: {e.format_message()}")


def test_the_parser_refuses_what_the_cli_refuses(home):
    assert parse(["train", "a.txt", "--time", "5m"]) == ["train"]
    assert parse(["corpora", "get", "tinyshakespeare"]) == ["corpora", "get"]
    assert parse(["--install-completion"]) == [] and parse(["--show-completion"]) == []
    assert parse(["train", "--help"]) == ["train"] and parse(["compare"]) == ["compare"]
    for bad in (["train", "a.txt", "--no-such-option"], ["sample", "--temp"], ["sample", "--temp", "warm"],
                ["sample", "a", "b"], ["resume", "a", "b"], ["nosuchcommand"], ["corpora", "get"]):
        with pytest.raises(UsageError):
            parse(bad)


def cheap(argv: tuple[str, ...]) -> bool:
    """Commands run for real below: help and version, the starter model's info, its samples of up to 2,000
    characters that read no stdin, no training text and no text to adapt to, and the corpus listing.
    (`charlstm runs` and `info` need a trained run, which an empty folder lacks; they are parsed only.)"""
    if {"--help", "-h", "--version"} & set(argv):
        return not {"--install-completion", "--show-completion"} & set(argv)
    if argv[:1] == ("sample",):
        positional = [a for a in argv[1:2] if not a.startswith("-")]
        length = next((int(v) if v.isdigit() else 10**9 for o, v in zip(argv, argv[1:]) if o in ("-n", "--length")),
                      500)
        return (positional in ([], ["starter"]) and length <= 2000
                and not {"--interactive", "-i", "--novelty", "--adapt"} & set(argv))
    return argv in (("info", "starter"), ("corpora",))


CHEAP = sorted({c.argv: c for c in CHARLSTM if cheap(c.argv)}.values(), key=lambda c: c.where)


@pytest.fixture
def one_thread():
    """One torch thread while a command runs in this process, for the reason given for the python blocks."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("command", CHEAP, ids=lambda c: f"{c.where} {' '.join(c.argv)}")
def test_cheap_documented_command_runs(command, tmp_path, monkeypatch, one_thread, home):
    """In an empty working folder (no runs yet: `charlstm sample` takes the starter model, as the README says)."""
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "corpora").mkdir()
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, list(command.argv), env={"COLUMNS": "120", "NO_COLOR": "1"})
    assert r.exit_code == 0, f"{command.where}: `{command.line}` exited {r.exit_code}:\n{r.output[-3000:]}"


def test_cheap_commands_include_the_starter_and_help():
    assert {("info", "starter"), ("train", "--help")} <= {c.argv for c in CHEAP}
    assert any(c.argv[:1] == ("sample",) for c in CHEAP)
