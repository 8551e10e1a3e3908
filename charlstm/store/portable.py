"""What differs between Windows, macOS and Linux in files and processes, in one place, so the rest of the
package reads the same everywhere: descriptors opened binary, positional reads, a rename that waits out
a file another program holds open, whether a process is alive (no signal sent), and wildcards in
paths. Imports nothing of charlstm; `tests/store/test_portable.py` tests it, and the AST guard in
`tests/test_portability_guard.py` holds the rest of the package to it.
"""

from __future__ import annotations

import glob
import os
import sys
import threading
import time
from pathlib import Path

WINDOWS = sys.platform == "win32"
# Windows' C runtime opens a descriptor in text mode unless told otherwise, turning every b"\n" written
# into b"\r\n"; O_NOFOLLOW (POSIX) keeps a link planted in a run folder from being followed.
O_BINARY = getattr(os, "O_BINARY", 0)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
REPLACE_WAIT = 2.0  # seconds a rename keeps retrying over a file another program holds open (Windows)
WILDCARDS = frozenset("*?[")


def open_fd(path: str | Path, flags: int, mode: int = 0o666, follow: bool = False) -> int:
    """`os.open` as the package uses it: always binary, and never through a link unless `follow`."""
    return os.open(path, flags | O_BINARY | (0 if follow else NOFOLLOW), mode)


class PositionalReader:
    """Reads of `length` bytes at an offset from one file, safe from several threads, on every OS
    (os.pread is POSIX only): one binary file object, each seek + read under a lock. The file is
    opened on first use and closed by `close`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = None
        self._lock = threading.Lock()

    def read(self, offset: int, length: int) -> bytes:
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115 (closed in close)
            self._file.seek(offset)
            parts, left = [], length
            while left > 0:
                got = self._file.read(left)
                if not got:
                    break
                parts.append(got)
                left -= len(got)
            return b"".join(parts)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _sharing_violation(e: OSError) -> bool:
    """Windows refuses to replace or remove a file another process holds open (an antivirus scan, a
    sync client, a second charlstm reading it): ERROR_ACCESS_DENIED (5) or ERROR_SHARING_VIOLATION (32),
    raised as PermissionError. Elsewhere an OSError has no winerror: a refusal there is final."""
    return getattr(e, "winerror", None) in (5, 32)


def replace(src: str | Path, dst: str | Path, wait: float | None = None) -> None:
    """`os.replace(src, dst)`, retried with a growing pause for up to `wait` seconds (REPLACE_WAIT)
    while another program holds `dst` open; then one OSError naming the file and the likely cause."""
    wait = REPLACE_WAIT if wait is None else wait
    deadline, pause = time.monotonic() + wait, 0.01
    while True:
        try:
            os.replace(src, dst)
            return
        except OSError as e:
            if not _sharing_violation(e):
                raise
            if time.monotonic() >= deadline:
                raise PermissionError(e.errno, f"{dst} is held open by another program (an antivirus, a sync "
                                      f"client, a viewer or another charlstm) and could not be replaced for "
                                      f"{wait:g} s; close it and try again", str(dst)) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


def process_alive(pid: int) -> bool:
    """Whether process `pid` is running, asked without sending it anything. On Windows, os.kill(pid, 0)
    would deliver a console Ctrl-C (signal 0 is CTRL_C_EVENT there), so the process is opened and its
    exit code read; elsewhere getpgid answers for any process, ours or not."""
    if pid <= 0:
        return False
    if WINDOWS:
        return _windows_process_alive(pid)
    else:
        try:
            os.getpgid(pid)
        except ProcessLookupError:
            return False
        except OSError:  # EPERM: someone else's process; anything else: unsure, so its file is left alone
            return True
        return True


def _windows_process_alive(pid: int) -> bool:
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    query, still_active, access_denied = 0x1000, 259, 5  # PROCESS_QUERY_LIMITED_INFORMATION, STILL_ACTIVE
    handle = kernel32.OpenProcess(query, False, pid)
    if not handle:
        return ctypes.get_last_error() == access_denied  # running, but not ours to open
    try:
        code = wintypes.DWORD()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return not ok or code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Paths as named, each with wildcards (`*`, `?`, `[...]`) expanded in sorted order where no file
    of that very name exists. A POSIX shell has expanded them already; Windows' shells pass them as
    typed, so `charlstm train data\\*.txt` works there only because of this. A pattern that matches
    nothing is kept as it is, and the caller reports it as a missing file."""
    out: list[Path] = []
    for p in paths:
        text = os.fspath(p)
        if WILDCARDS.isdisjoint(text) or os.path.lexists(text):
            out.append(Path(text))
            continue
        found = sorted(glob.glob(text, recursive="**" in text))
        out.extend(Path(f) for f in found) if found else out.append(Path(text))
    return out
