"""The docs' blocks: every fence says what it holds, shell blocks hold only commands, and every ```python
block in README.md and docs/*.md is executed as written, in a fresh interpreter, in a folder that holds a
small copy of each corpus it names (at the same path) and an empty `checkpoints/`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from docs_reading import (
    BLOCK_TIMEOUT,
    CHARLSTM,
    CORPUS_CHARS,
    DOCS,
    LANGUAGES,
    OTHERS,
    PYTHON_BLOCKS,
    Block,
    fenced_blocks,
    shell_block_lines,
    simple_commands,
)


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
