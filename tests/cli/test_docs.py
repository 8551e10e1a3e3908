"""The CLI reference page is generated from the real CLI; every option explains itself."""

import typer
from conftest import ROOT
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.cli.docs import render


def test_docs_cli_md_is_current():
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == render(), \
        "docs/cli.md is stale: python -m charlstm.cli.docs > docs/cli.md"


def test_every_option_has_help_and_every_command_a_description():
    root = typer.main.get_command(app)
    missing = []
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", {})
        for sub_name, c in [(name, cmd), *((f"{name} {k}", v) for k, v in subs.items())]:
            if not (c.help or "").strip():
                missing.append(sub_name)
            missing += [f"{sub_name} {p.name}" for p in c.params if not (getattr(p, "help", None) or "").strip()
                        and not getattr(p, "hidden", False) and p.param_type_name == "option"]
    assert missing == []


def test_version_and_shell_completion():
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("charlstm ")
    r = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout


def _commands():
    root = typer.main.get_command(app)
    for name, cmd in root.commands.items():
        yield name, cmd
        for sub_name, sub in getattr(cmd, "commands", {}).items():
            yield f"{name} {sub_name}", sub


def test_every_value_option_shows_a_default():
    """The docs' default column is never empty for an option that takes a value: either a real
    default or a `show_default` string for one computed at run time ("from --preset")."""
    from charlstm.cli.docs import default_text
    empty = []
    for name, cmd in _commands():
        for p in cmd.params:
            if p.param_type_name != "option" or p.is_flag or p.hidden or p.name in ("help",):
                continue
            if not default_text(p) or (p.default in (None, "", (), []) and not isinstance(p.show_default, str)):
                empty.append(f"{name} {p.opts[0]}")
            if p.show_default is False:
                empty.append(f"{name} {p.opts[0]} (show_default=False)")
    assert empty == []


def test_no_help_text_hides_a_default_in_rich_markup():
    """Rich reads `[default: ...]` in a help text as a style tag and drops it, so defaults go in
    `show_default`; an escaped `\\[` is shown as written."""
    import re
    bad = []
    for name, cmd in _commands():
        texts = [("", cmd.help or "")] + [(p.name, getattr(p, "help", None) or "") for p in cmd.params]
        bad += [f"{name} {who}" for who, text in texts if re.search(r"(?<!\\)\[default", text)]
    assert bad == []


def test_train_help_shows_computed_defaults_and_choices():
    r = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert "[default: (from --preset)]" in text
    assert text.count("[default: (from --preset)]") == 10  # layers hidden embed dropout weight-drop b T lr wd plateau
    for choices in ("lstm|gru|rnn", "auto|tiny|small|medium|large", "constant|cosine|wsd", "adam|adamw",
                    "auto|fp32|bf16|fp16", "nfc|nfkc|none", "strict|replace|ignore", "lf|keep"):
        assert choices in text, choices
    assert "[default: (lstm)]" in text and "[default: 200]" in text and "[default: (1000 and 5m)]" in text
    # what --init-from changes is said where it applies
    assert "[default: (wsd)]" in text
    assert "[default: (NFC; the model's with --init-from)]" in text
    assert "extend|strict|map" in text and "[default: (a new model)]" in text


def test_other_commands_list_their_choices_and_defaults():
    def help_of(*args):
        r = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
        assert r.exit_code == 0
        return " ".join(r.stdout.split())
    sample = help_of("sample")
    assert "auto|numpy|fast|graph|plain|fp16" in sample and "0.002 nats" in sample
    assert "[default: (a fresh random one)]" in sample
    assert "[default: (the newest run under --root)]" in sample
    inspect = help_of("inspect")
    assert "c|h" in inspect and "quotes|line|brackets" in inspect
    assert "step|time" in help_of("plot")
    assert "[default: (the run's)]" in help_of("resume")
    for cmd in ("train", "resume", "sample", "compare", "eval"):
        assert "auto takes a CUDA GPU when there is one" in help_of(cmd) and "[default: auto]" in help_of(cmd), cmd
