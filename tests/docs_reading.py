"""How the docs tests read README.md and docs/*.md: fenced blocks, the shell command lines in them and
inline, and which of those are charlstm commands. The tests are test_docs_blocks.py (fences and
python blocks), test_docs_commands.py (charlstm commands) and test_docs_lines.py (other command lines
and the Windows set-up).

Fences say what they hold: ```python runs, ``` (no language), ```bash, ```sh, ```console and ```shell hold
commands, ```text holds what is neither (output, a synopsis, a folder tree) and is not run. A fence with any
other language fails, so nothing is skipped by accident."""


from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

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
