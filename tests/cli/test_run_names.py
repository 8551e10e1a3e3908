"""Any name `charlstm runs` prints is accepted by every command that takes a run."""

import json

import pytest
from conftest import VERSE
from typer.testing import CliRunner

from charlstm.cli import app

TINY = ["--hidden", "16", "--embed", "8", "--layers", "1", "-b", "4", "--seq-len", "16", "--eval-every", "5",
        "--plain", "--precision", "fp32", "--device", "cpu", "--sample-every", "0"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    d = tmp_path_factory.mktemp("names")
    corpus = d / "verse.txt"
    corpus.write_text(VERSE * 12, encoding="utf-8")
    for name in ("plain", "group/nested"):  # a nested run, as `compare` makes them
        r = invoke("train", corpus, "--root", d / "checkpoints", "--name", name, "--steps", 5, *TINY)
        assert r.exit_code == 0, r.output
    return d


@pytest.mark.parametrize("command", [
    ["sample", "-n", "5", "--seed", "1"],
    ["info"],
    ["eval", "{name}", "VERSE"],
    ["inspect", "--text", "the lamp"],
    ["gates", "--text", "the lamp was lit"],
    ["plot", "-o", "{out}"],
    ["resume", "--steps", "6"],
])
def test_every_printed_name_is_accepted(root, command, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    listed = invoke("runs", "--root", "checkpoints", "--json")
    assert listed.exit_code == 0, listed.output
    names = [json.loads(line)["name"] for line in listed.stdout.splitlines()]
    assert sorted(names) == ["group/nested", "plain"]
    for name in names:
        args = [a.format(name=name, out=tmp_path / f"{name.replace('/', '_')}.png") for a in command]
        args = [str(root / "verse.txt") if a == "VERSE" else a for a in args]
        if "{name}" not in " ".join(command):
            args.insert(1, name)
        r = invoke(*args, "--root", "checkpoints")
        assert r.exit_code == 0, f"{args}: {r.output}"
