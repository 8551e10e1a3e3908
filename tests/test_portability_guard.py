"""The portability guard: nothing in the package that only works on Linux slips in unnoticed
(tests/portability_rules.py has the rules, docs and ../guides say why). Each rule is first shown to
catch a planted offender, then held over every module of the package and the tests' imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from portability_rules import violations

ROOT = Path(__file__).resolve().parent.parent

PLANTED = {
    "posix-module": ["import fcntl\n", "import resource, os\n", "from termios import tcgetattr\n",
                     "def f():\n    import pwd\n    return pwd\n", "from grp import getgrnam\n"],
    "posix-name": ["import os\nos.pread(3, 4, 0)\n", "import os\nos.pwrite(3, b'x', 0)\n",
                   "import os\nflags = os.O_NOFOLLOW\n", "import os\nos.kill(123, 0)\n",
                   "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, [])\n", "from os import pread\n"],
    "os-open-binary": ["import os\nfd = os.open('x', os.O_RDONLY)\n",
                       "import os\nfd = os.open('x', os.O_WRONLY | getattr(os, 'O_NOFOLLOW', 0))\n"],
    "text-encoding": ["f = open('x')\n", "f = open('x', 'w')\n", "f = open(p, mode='r')\n",
                      "from pathlib import Path\nPath('x').read_text()\n", "p.write_text('hi')\n", "p.open('a')\n"],
    "non-blocking": ["x.to(device, non_blocking=True)\n", "x.to(device, non_blocking=flag)\n"],
    "socket-option": ["import socket\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n",
                      "import socket\nopt = socket.SO_REUSEPORT\n"],
}

ALLOWED = [
    "import sys\nif sys.platform != 'win32':\n    import fcntl\n",
    "import os\nif os.name == 'posix':\n    os.kill(1, 0)\nelse:\n    pass\n",
    "try:\n    import termios\nexcept ImportError:\n    termios = None\n",
    "import os\nfd = os.open('x', os.O_RDONLY | getattr(os, 'O_BINARY', 0))\n",
    "import os\nflags = getattr(os, 'O_NOFOLLOW', 0)\n",
    "f = open('x', 'rb')\n", "f = open('x', 'w', encoding='utf-8')\n", "p.read_text(encoding='utf-8')\n",
    "with zipfile.ZipFile(p) as archive:\n    archive.open('a')\n", "import webbrowser\nwebbrowser.open('u')\n",
    "x.to(device, non_blocking=device.type == 'cuda')\n", "x.to(device, non_blocking=on_cuda)\n",
    "import socket\ns = socket.create_server(('127.0.0.1', 0))\n",
]


@pytest.mark.parametrize("rule, source", [(rule, src) for rule, srcs in PLANTED.items() for src in srcs])
def test_each_rule_catches_its_planted_offender(rule, source):
    assert rule in [r for _, r, _ in violations(source)], source


@pytest.mark.parametrize("source", ALLOWED)
def test_the_portable_spelling_passes(source):
    assert violations(source) == []


def test_test_files_are_checked_for_module_level_imports_only():
    assert [r for _, r, _ in violations("import resource\n", imports_only=True)] == ["posix-module"]
    assert violations("def child():\n    import resource\n", imports_only=True) == []


def test_the_package_has_no_offender():
    found = [f"{p.relative_to(ROOT)}:{line}: {rule}: {what}"
             for p in sorted((ROOT / "charlstm").rglob("*.py"))
             for line, rule, what in violations(p.read_text(encoding="utf-8"))]
    assert found == []


def test_no_test_file_imports_anything_posix_only_at_module_level():
    found = [f"{p.relative_to(ROOT)}:{line}: {what}"
             for p in sorted((ROOT / "tests").rglob("*.py"))
             for line, _, what in violations(p.read_text(encoding="utf-8"), imports_only=True)]
    assert found == []


def test_the_docs_python_examples_are_portable():
    """What the README and docs show a user to type follows the same rules (an example that opens a
    file without encoding= teaches a Windows user to read their text in the wrong code page)."""
    from docs_reading import PYTHON_BLOCKS
    found = [f"{b.where}: {rule}: {what}" for b in PYTHON_BLOCKS for _, rule, what in violations(b.text)]
    assert len(PYTHON_BLOCKS) >= 2 and found == []
