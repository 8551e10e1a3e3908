"""cli/launch.py: the console script imports only the command it runs, and what it shows is what
the whole app shows (known answers: the full app's own help, command by command)."""

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from charlstm.cli import app, launch


def first_paragraph(text: str) -> str:
    return text.strip().split("\n\n")[0].strip()


def test_every_command_of_the_app_is_listed_with_its_own_first_paragraph():
    group = typer.main.get_command(app)
    assert list(group.commands) == list(launch.COMMANDS)
    for name, command in group.commands.items():
        assert first_paragraph(command.help) == launch.COMMANDS[name][2], name
        assert command.no_args_is_help == launch.COMMANDS[name][3], name


@pytest.mark.parametrize("args", [["--help"], [], ["-h"]])
def test_the_top_level_help_from_stand_ins_is_the_whole_apps(args):
    env = {"COLUMNS": "120"}
    whole = CliRunner().invoke(app, args, env=env)
    light = CliRunner().invoke(launch.build(stand_ins=True), args, env=env)
    assert light.output == whole.output and "corpora" in whole.output
    assert light.exit_code == whole.exit_code


@pytest.mark.parametrize("args,name", [(["sample", "-n", "3"], "sample"), (["--debug", "eval", "x"], "eval"),
                                       (["--help"], None), (["--version"], None), ([], None)])
def test_the_command_named_is_the_first_word_that_is_not_an_option(args, name):
    assert launch.named(args) == name


@pytest.mark.parametrize("args,loaded", [(["--help"], set()), (["sample", "--help"], {"sample"}),
                                         (["corpora", "--help"], {"runs"}), (["train", "--help"], {"train"})])
def test_the_console_script_imports_only_the_command_it_runs(args, loaded):
    code = ("import sys\nfrom charlstm.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "mods = ('train', 'sample', 'insight', 'runs', 'serve', 'export')\n"
            "print(sorted(m for m in mods if f'charlstm.cli.{m}' in sys.modules), 'torch' in sys.modules,"
            " file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Usage" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == f"{sorted(loaded)} False"
