"""The portability rules, as an AST scan: what in a source file would break on Windows or macOS.

`violations(source)` lists (line, rule, what) for each offence; tests/test_portability_guard.py runs
it over the package (and the tests' module-level imports) and proves every rule on a planted case.
A POSIX-only name is allowed inside a platform guard: an `if`/`else` whose test reads `sys.platform`,
`os.name` or `WINDOWS`, or a `try` that catches ImportError or AttributeError.
"""

from __future__ import annotations

import ast

POSIX_MODULES = {"fcntl", "termios", "resource", "pwd", "grp", "posix", "pty", "tty", "syslog"}
POSIX_OS = {"pread", "pwrite", "O_NOFOLLOW", "kill", "killpg", "fork", "forkpty", "getuid", "geteuid", "getgid",
            "getpgid", "setsid", "setpgrp", "mkfifo", "sync", "getloadavg", "sched_getaffinity", "wait3", "wait4"}
POSIX_SIGNAL = {"SIGKILL", "SIGHUP", "SIGPIPE", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGXFSZ", "SIGQUIT",
                "pthread_sigmask", "pthread_kill", "alarm", "setitimer", "siginterrupt"}
SOCKET_OPTIONS = {"SO_REUSEADDR", "SO_REUSEPORT", "SO_EXCLUSIVEADDRUSE"}
# receivers whose .open() opens no text file (a browser tab, a member of an archive, a raw descriptor)
NOT_FILES = {"webbrowser", "tarfile", "zipfile", "archive", "gzip", "bz2", "lzma", "os", "Image", "wave"}


def _mentions(node: ast.AST, words: set[str]) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id in words or isinstance(n, ast.Attribute) and n.attr in words:
            return True
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in words:
            return True
    return False


def _about_cuda(node: ast.AST) -> bool:
    """Whether an expression is tied to CUDA: it compares with "cuda" or reads a name saying cuda."""
    return any(isinstance(n, ast.Constant) and n.value == "cuda" or isinstance(n, ast.Name) and "cuda" in n.id.lower()
               for n in ast.walk(node))


def _is_platform_test(test: ast.AST) -> bool:
    for n in ast.walk(test):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and (
                (n.value.id == "sys" and n.attr == "platform") or (n.value.id == "os" and n.attr == "name")):
            return True
        if isinstance(n, ast.Name) and n.id == "WINDOWS":
            return True
    return False


def _guarded_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside a platform guard."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        body: list[ast.AST] = []
        if isinstance(node, ast.If) and _is_platform_test(node.test):
            body = [*node.body, *node.orelse]
        elif isinstance(node, ast.Try) and any(
                h.type is not None and _mentions(h.type, {"ImportError", "ModuleNotFoundError", "AttributeError"})
                for h in node.handlers):
            body = list(node.body)
        for stmt in body:
            inside.update(id(n) for n in ast.walk(stmt))
    return inside


def _text_mode_open(call: ast.Call) -> bool:
    """A call of builtin open() or Path.open() in text mode with no encoding= (the ANSI code page on Windows)."""
    f = call.func
    if isinstance(f, ast.Name) and f.id == "open":
        mode_at = 1
    elif isinstance(f, ast.Attribute) and f.attr == "open" and not (
            isinstance(f.value, ast.Name) and f.value.id in NOT_FILES):
        mode_at = 0
    else:
        return False
    if any(k.arg == "encoding" for k in call.keywords):
        return False
    mode = next((k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None and len(call.args) > mode_at:
        mode = call.args[mode_at]
    if mode is None:
        return True  # "r": text
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "b" in mode.value)


def violations(source: str, imports_only: bool = False) -> list[tuple[int, str, str]]:
    """(line, rule, what) for every offence in `source`; `imports_only`: module-level imports alone
    (for test files, which may use POSIX facilities in tests marked POSIX only)."""
    tree = ast.parse(source)
    guarded = _guarded_nodes(tree)
    found: list[tuple[int, str, str]] = []

    def add(node: ast.AST, rule: str, what: str) -> None:
        found.append((node.lineno, rule, what))

    nodes = tree.body if imports_only else ast.walk(tree)
    for node in nodes:
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in POSIX_MODULES:
                    add(node, "posix-module", f"import {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] in POSIX_MODULES:
                add(node, "posix-module", f"from {node.module} import ...")
            if node.module == "os":
                for a in node.names:
                    if a.name in POSIX_OS:
                        add(node, "posix-name", f"from os import {a.name}")
        if imports_only:
            continue
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr in POSIX_OS:
                add(node, "posix-name", f"os.{node.attr}")
            elif node.value.id == "signal" and node.attr in POSIX_SIGNAL:
                add(node, "posix-name", f"signal.{node.attr}")
        if isinstance(node, ast.Attribute) and node.attr in SOCKET_OPTIONS:
            add(node, "socket-option", f"{node.attr} (use socket.create_server)")
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "open" and isinstance(f.value, ast.Name) \
                    and f.value.id == "os" and not _mentions(node, {"O_BINARY"}):
                add(node, "os-open-binary", "os.open without O_BINARY (use portable.open_fd)")
            if _text_mode_open(node):
                add(node, "text-encoding", "text-mode open() without encoding=")
            if isinstance(f, ast.Attribute) and f.attr in ("read_text", "write_text") \
                    and not any(k.arg == "encoding" for k in node.keywords):
                add(node, "text-encoding", f".{f.attr}() without encoding=")
            for k in node.keywords:
                if k.arg == "non_blocking" and not _about_cuda(k.value):
                    add(node, "non-blocking", "non_blocking= not tied to a CUDA device")
    return found
