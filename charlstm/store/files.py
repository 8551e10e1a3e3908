"""The one way charlstm writes a file: the bytes go to a temporary name beside the target, created
exclusively and never through a link, are flushed to disk, and replace the target in one rename. A
reader sees the old file or the whole new one; a failure or an interruption leaves the old file as it
was and no temporary file behind. Callers turn an `OSError` into their own one-line error."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .portable import WINDOWS, open_fd, replace

TMP_MARK = ".tmp-"  # `.NAME.tmp-PID`: a file being written by process PID, renamed to NAME when complete


def temp_path(path: Path) -> Path:
    """Where this process writes `path` before renaming it into place (checkpoint.remove_orphans
    knows the name, and removes it once this process is gone)."""
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def create_new(path: Path) -> int:
    """A write descriptor on a new file at `path` (a leftover of our own pid is replaced): O_EXCL and
    O_NOFOLLOW, so a link planted there is never followed, and binary (O_BINARY on Windows). The mode
    is 0666 less the umask, as for any file a program creates."""
    Path(path).unlink(missing_ok=True)
    return open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)


@contextmanager
def atomic_write(path: Path, encoding: str | None = None) -> Iterator[IO]:
    """Yield a file to write `path` through (binary, or text in `encoding`); `path` is replaced only
    when the body ends without an error."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        # text is written with "\n" line ends on every OS, so a file is the same bytes wherever it was made
        with open(create_new(tmp), "w", encoding=encoding, newline="\n") if encoding else \
                open(create_new(tmp), "wb") as f:
            yield f
            f.flush()  # here, not in close: a full disk fails inside the try
            os.fsync(f.fileno())
        replace(tmp, path)  # waits out a reader holding `path` open on Windows, then one clear error
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def write_bytes(path: Path, data: bytes) -> None:
    """`path` holds `data` whole, or its old content."""
    with atomic_write(path) as f:
        write_all(f, data)


def write_all(f: IO[bytes], data: bytes) -> None:
    """All of `data`, whatever the file's write takes at a time."""
    view = memoryview(data)
    while view:
        view = view[f.write(view):]


def fsync_dir(d: Path) -> None:
    """Make a rename inside `d` durable (POSIX only: Windows cannot open a folder as a file, and
    its renames are durable once done; quietly skipped where the filesystem refuses)."""
    if WINDOWS:
        return
    try:
        fd = open_fd(d, os.O_RDONLY, follow=True)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
