"""Well-known public-domain corpora, fetched on request: streamed to a temporary file beside the
target, checked against a pinned SHA-256 where one is known, then renamed into place (atomic: a
broken download never leaves a half file under the final name).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import CharLSTMError

CHUNK = 1 << 16


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    description: str
    sha256: str | None = None  # None: no pinned checksum; the digest is reported instead
    size: int | None = None  # bytes, when known (for the progress bar before headers arrive)


SOURCES = {s.name: s for s in (
    Source("tinyshakespeare", "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
           "40,000 lines of Shakespeare's plays (1.1 MB), the usual character-model benchmark",
           "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1_115_394),
    Source("warandpeace", "https://www.gutenberg.org/cache/epub/2600/pg2600.txt",
           "Tolstoy, War and Peace, English translation (3.3 MB, Project Gutenberg #2600)"),
    Source("sherlock", "https://www.gutenberg.org/cache/epub/1661/pg1661.txt",
           "Conan Doyle, The Adventures of Sherlock Holmes (0.6 MB, Project Gutenberg #1661)"),
)}


class FetchError(CharLSTMError):
    pass


def download(source: Source, dest: Path, progress: Callable[[int, int | None], None] | None = None,
             timeout: float = 30.0) -> tuple[Path, str]:
    """Fetch `source` to the file `dest`; returns (dest, sha256 hex). `progress(n, total)` is told
    of every chunk. A checksum mismatch or a broken transfer leaves `dest` untouched."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(source.url, timeout=timeout) as resp:
                    total = int(resp.headers.get("Content-Length") or 0) or source.size
                    while chunk := resp.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        if progress:
                            progress(len(chunk), total)
            except OSError as e:  # URLError, HTTPError, timeouts, connection resets
                raise FetchError(f"could not download {source.name} from {source.url}: {e}") from None
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if source.sha256 and got != source.sha256:
            raise FetchError(f"{source.name}: checksum mismatch (got sha256 {got[:16]}..., expected "
                             f"{source.sha256[:16]}...); nothing was saved")
        os.replace(tmp, dest)
        return dest, got
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
