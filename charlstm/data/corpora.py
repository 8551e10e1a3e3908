"""Well-known public-domain corpora, fetched on request: streamed to a temporary file beside the
target, checked against a pinned SHA-256 where one is known, then renamed into place (atomic: a
broken download never leaves a half file under the final name).
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CharLSTMError
from ..store.files import atomic_write

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
    of every chunk. A checksum mismatch, a transfer shorter than its Content-Length, a broken
    chunked transfer or a failed write leaves `dest` untouched and no temp file behind. The saved
    file gets mode 0666 less the umask, like any file the user creates."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with atomic_write(dest) as out:  # the checks below raise inside it: nothing is kept
        received, expected = _transfer(source, out, digest, progress, timeout)
        if expected is not None and received != expected:
            raise FetchError(f"could not download {source.name} from {source.url}: the transfer ended after "
                             f"{received:,} of {expected:,} bytes; nothing was saved (try again)")
        got = digest.hexdigest()
        if source.sha256 and got != source.sha256:
            raise FetchError(f"{source.name}: checksum mismatch (got sha256 {got[:16]}..., expected "
                             f"{source.sha256[:16]}...); nothing was saved")
    return dest, got


def _transfer(source: Source, out, digest, progress: Callable[[int, int | None], None] | None,
              timeout: float) -> tuple[int, int | None]:
    """Stream the body into `out`; returns (bytes received, Content-Length or None). Any failure
    to read (refused connection, timeout, reset, broken chunked encoding, a bad Content-Length) is
    one FetchError; a failure to write (a full disk) stays an OSError naming the file."""
    received, expected = 0, None
    try:
        with urllib.request.urlopen(source.url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            if length is not None:
                expected = int(length)
                if expected < 0:
                    raise ValueError(f"negative Content-Length {length!r}")
            total = expected or source.size
            while chunk := resp.read(CHUNK):
                try:
                    out.write(chunk)
                except OSError as e:
                    raise _WriteError(e) from None
                digest.update(chunk)
                received += len(chunk)
                if progress:
                    progress(len(chunk), total)
    except _WriteError as e:
        raise e.error from None
    except (OSError, http.client.HTTPException, ValueError) as e:  # URLError, HTTPError, timeouts, resets,
        # IncompleteRead (a broken chunked transfer), a Content-Length that is not a number
        what = e.reason if isinstance(e, urllib.error.URLError) else e
        raise FetchError(f"could not download {source.name} from {source.url}: "
                         f"{type(e).__name__}: {what}".replace("\n", " ")) from None
    return received, expected


class _WriteError(Exception):
    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error
