"""The docs run. Every ```python block in README.md and docs/*.md is executed as written, in a fresh interpreter,
in a folder that holds a small copy of each corpus it names (at the same path) and an empty `checkpoints/`.
Every `charlstm ...` command they show, in a shell block or inline, is parsed by the real command line (each
option must exist and take the values given); the cheap ones are also run. The other command lines name
things that must exist: `python -m MODULE`, `python SCRIPT`, `bash SCRIPT`, pytest's markers and paths.

Fences say what they hold: ```python runs, ``` (no language), ```bash, ```sh, ```console and ```shell hold
commands, ```text holds what is neither (output, a synopsis, a folder tree) and is not run. A fence with any
other language fails, so nothing is skipped by accident."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from conftest import ROOT
from typer.testing import CliRunner

from charlstm.cli import app

try:  # typer 0.28 carries its own copy of click; earlier versions use click itself
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:
    from click.exceptions import NoArgsIsHelpError, UsageError

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"", "bash", "sh", "console", "shell"}
POWERSHELL = "powershell"  # Windows set-up lines: checked against the POSIX ones (test_powershell_setup_...)
LANGUAGES = SHELL | {"python", "text", POWERSHELL}
CORPUS_CHARS = 20_000  # what a python block gets of each corpus it names: enough for the tiny preset's lanes
BLOCK_TIMEOUT = 300


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the block's first line of content
    end: int  # of its closing fence
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Command:
    where: str
    line: str  # as the docs show it
    argv: tuple[str, ...]  # the words of one simple command: no operators, no redirections


def fenced_blocks(doc: Path) -> list[Block]:
    blocks, fence, start, lang, body = [], None, 0, "", []
    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        if fence is None:
            m = re.match(r"\s*(`{3,}|~{3,})\s*([^\s`]*)", line)
            if m:
                fence, lang, start, body = m.group(1), m.group(2).lower(), n + 1, []
        elif line.strip().startswith(fence) and not line.strip(fence[0]).strip():
            blocks.append(Block(doc, start, n, lang, "\n".join(body)))
            fence = None
        else:
            body.append(line)
    assert fence is None, f"{doc.relative_to(ROOT)}:{start - 1}: a fence that is never closed"
    return blocks


def prose(doc: Path) -> str:
    """The document with every fenced block's lines blanked (line numbers stay where they were)."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    for b in fenced_blocks(doc):
        for i in range(b.line - 2, b.end):
            lines[i] = ""
    return "\n".join(lines)


def inline_spans(doc: Path) -> list[tuple[int, str]]:
    """(line, text) of every `code span` outside the fences; a span may run over a line break, and `\\|`
    in a table cell is a `|`."""
    text = prose(doc)
    return [(text.count("\n", 0, m.start()) + 1, " ".join(m.group(1).replace("\\|", "|").split()))
            for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text)]


OPERATORS = {"|", "||", "&&", ";", "&"}
REDIRECTIONS = {">", ">>", "<", ">&", "&>"}


def simple_commands(line: str) -> list[list[str]]:
    """The words of each simple command in a shell line: split at | && ; &, redirections and comments
    dropped, a `$ ` prompt removed."""
    line = re.sub(r"^\s*\$\s+", "", line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, words, tokens = [], [], list(lexer)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in OPERATORS:
            commands.append(words)
            words = []
        elif tok in REDIRECTIONS:
            i += 1  # and its target
        else:
            words.append(tok)
        i += 1
    return [c for c in [*commands, words] if c]


def block_commands(b: Block) -> list[tuple[str, str]]:
    """(where, line) of each command line in a shell block: every line that is not blank, and in a ```console
    block only the lines after a `$ ` prompt (the others are output)."""
    rel = b.doc.relative_to(ROOT)
    return [(f"{rel}:{b.line + i}", line) for i, line in enumerate(b.text.splitlines())
            if line.strip() and (b.lang != "console" or line.lstrip().startswith("$ "))]


def shell_block_lines() -> list[tuple[str, str]]:
    return [cmd for doc in DOCS for b in fenced_blocks(doc) if b.lang in SHELL for cmd in block_commands(b)]


def shell_lines() -> list[tuple[str, str]]:
    """(where, line) of every command line the docs show: in shell blocks, and each inline span."""
    spans = [(f"{doc.relative_to(ROOT)}:{n}", span) for doc in DOCS for n, span in inline_spans(doc)]
    return shell_block_lines() + spans


def charlstm_args(words: list[str]) -> list[str] | None:
    """The arguments after `charlstm`, `python -m charlstm` or `torchrun ... -m charlstm`; None for other commands."""
    if words[0] == "charlstm":
        return words[1:]
    if words[0] in ("python", "python3", "torchrun") and "-m" in words:
        i = words.index("-m")
        if i + 1 < len(words) and words[i + 1] == "charlstm":
            return words[i + 2:]
    return None


def documented_commands() -> tuple[list[Command], list[Command]]:
    """(charlstm commands, other commands): from shell blocks every simple command, from inline spans only
    those that start with a command this file checks (charlstm, python, python3, torchrun, bash)."""
    mine, others = [], []
    for where, line in shell_lines():
        try:
            commands = simple_commands(line)
        except ValueError:  # unbalanced quotes: prose in a span, not a command
            continue
        for words in commands:
            args = charlstm_args(words)
            if args is not None:
                mine.append(Command(where, line, tuple(args)))
            elif words[0] in ("python", "python3", "bash"):
                others.append(Command(where, line, tuple(words)))
    return mine, others


CHARLSTM, OTHERS = documented_commands()
PYTHON_BLOCKS = [b for doc in DOCS for b in fenced_blocks(doc) if b.lang == "python"]


def test_every_fence_says_what_it_holds():
    unknown = [f"{b.where}: ```{b.lang}" for doc in DOCS for b in fenced_blocks(doc) if b.lang not in LANGUAGES]
    assert unknown == [], f"use one of {sorted(LANGUAGES)} (```text for what is not run)"


PROGRAMS = {"charlstm", "python", "python3", "pip", "torchrun", "bash", ".", "source", "sudo", "git", "jq", "cd"}


def test_shell_blocks_hold_only_commands():
    """Output, a synopsis or a folder tree in a shell block would be read as commands: they go in ```text."""
    odd = []
    for where, line in shell_block_lines():
        try:
            programs = {words[0] for words in simple_commands(line)}
        except ValueError:  # unbalanced quotes
            programs = {line}
        odd += [f"{where}: {p} in `{line}`" for p in sorted(programs - PROGRAMS)]
    assert odd == [], "not a command: mark the block ```text, or add the program to PROGRAMS"


def test_the_docs_hold_what_this_file_checks():
    """A broken extractor would pass every test below by finding nothing."""
    assert len(PYTHON_BLOCKS) >= 2
    readme = [c for c in CHARLSTM if c.where.startswith("README.md")]  # a short README, its table of commands
    assert len(readme) >= 20 and len({c.argv[:1] for c in readme}) >= 12
    assert len(CHARLSTM) >= 100  # README and docs together
    assert any(c.where.startswith(f"docs{os.sep}cli.md") for c in CHARLSTM)
    assert {c.argv[:2] for c in OTHERS} >= {("python", "-m"), ("bash", ".ci/run")}


# ---- python blocks -------------------------------------------------------------------------------------------


def workdir_for(block: Block, folder: Path) -> Path:
    """`folder` set up as a user's working directory for `block`: the first CORPUS_CHARS characters of each
    corpora/*.txt the block names (a corpus the repository lacks stays missing, so the block fails naming it)
    and an empty checkpoints/."""
    (folder / "checkpoints").mkdir(parents=True)
    for rel in sorted(set(re.findall(r"corpora/[\w.-]+\.txt", block.text))):
        if (ROOT / rel).is_file():
            (folder / rel).parent.mkdir(exist_ok=True)
            with open(ROOT / rel, encoding="utf-8") as f:
                (folder / rel).write_text(f.read(CORPUS_CHARS), encoding="utf-8")
    return folder


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.where)
def test_python_block_runs_as_written(block, tmp_path):
    cwd = workdir_for(block, tmp_path / "work")
    # the block's lines keep their line numbers in the document, so a traceback points into it
    script = tmp_path / f"{block.doc.name}.py"
    script.write_text("\n" * (block.line - 1) + block.text + "\n", encoding="utf-8")
    # One torch thread: the suite's processes share the cores, and an oversubscribed thread pool spins (the same
    # block took 7 s with one thread and 30-150 s with two on two busy cores). The code runs as shown.
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.where}: the python block ran past {BLOCK_TIMEOUT} s")
    assert proc.returncode == 0, f"{block.where}: the python block failed (exit {proc.returncode}):\n" \
                                 f"{proc.stderr[-4000:]}"


# ---- charlstm commands ----------------------------------------------------------------------------------------


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


# ---- other command lines ----------------------------------------------------------------------------------------

# Written by a documented command rather than kept in the repository: `charlstm export --format onnx` copies
# charlstm/assets/sample_onnx.py beside the .onnx file.
WRITTEN_BY_CHARLSTM = {"sample_onnx.py": ROOT / "charlstm" / "assets" / "sample_onnx.py"}


def missing_in(words: tuple[str, ...], markers: set[str]) -> list[str]:
    """What `python ...` or `bash ...` names that does not exist: a module, a script, a pytest path or a marker
    not among `markers`."""
    if len(words) < 2:
        return []
    if words[0] == "bash" or not words[1].startswith("-"):
        script = words[1]
        found = (ROOT / script).is_file() or WRITTEN_BY_CHARLSTM.get(script, Path("/nonexistent")).is_file()
        return [] if found else [script]
    if words[1] != "-m" or len(words) < 3:
        return []  # python -c, python with no arguments: nothing to look up
    module, rest = words[2], list(words[3:])
    if module == "pip":
        return []
    if importlib.util.find_spec(module) is None:
        return [f"module {module}"]
    if module != "pytest":
        return []
    missing = []
    while rest:
        word = rest.pop(0)
        if word == "-m" and rest:
            expression = rest.pop(0)
            missing += [f"marker {m}" for m in re.findall(r"[A-Za-z_]\w*", expression)
                        if m not in markers | {"not", "and", "or"}]
        elif word in ("-k", "-p", "-c", "-o", "--rootdir", "--durations") and rest:
            rest.pop(0)  # the option's value
        elif not word.startswith("-") and not (ROOT / word.split("::")[0]).exists():
            missing.append(word)
    return missing


@pytest.mark.parametrize("command", OTHERS, ids=lambda c: f"{c.where} {' '.join(c.argv)}")
def test_other_command_line_names_what_exists(command, pytestconfig):
    markers = {m.split(":")[0].strip() for m in pytestconfig.getini("markers")}
    assert missing_in(command.argv, markers) == [], f"{command.where}: `{command.line}`"


def test_the_lookup_finds_what_is_missing():
    assert missing_in(("python", "-m", "pytest", "-m", "slow", "tests/cli"), {"slow"}) == []
    assert missing_in(("python", "-m", "pytest", "-m", "not fast", "tests/nope.py"), {"slow"}) == \
        ["marker fast", "tests/nope.py"]
    assert missing_in(("python", "-m", "charlstm.nope"), set()) == ["module charlstm.nope"]
    assert missing_in(("bash", "bench/nope.sh"), set()) == ["bench/nope.sh"]
    assert missing_in(("python", "tools/make_starter.py", "corpora/later.txt"), set()) == []


def test_powershell_setup_does_what_the_posix_setup_does():
    """The README's Windows lines install the same things and run the same commands as its Linux and macOS
    lines, in the same order (paths written with \\, the venv's programs called by path)."""
    readme = ROOT / "README.md"
    posix = [b.text.strip() for b in fenced_blocks(readme) if b.lang == "" and "python3 -m venv" in b.text]
    windows = [b.text.strip() for b in fenced_blocks(readme) if b.lang == POWERSHELL]
    assert len(posix) == len(windows) == 2

    def steps(line: str, sep: str) -> list[str]:
        out = []
        for part in line.split(sep):
            part = part.strip().replace("\\", "/").replace(".venv/Scripts/", "")
            if part.startswith(("python3 -m venv", "py -m venv", ". .venv")):
                continue  # making and entering the environment differ by design
            out.append(part.removeprefix("python -m ").removeprefix("python3 -m "))
        return out
    for p, w in zip(posix, windows):
        assert steps(p, "&&") == steps(w, ";"), (p, w)
