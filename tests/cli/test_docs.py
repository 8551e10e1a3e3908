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
