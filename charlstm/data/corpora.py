"""Well-known public-domain corpora, fetched on request: streamed to a temporary file beside the
target, checked against a pinned SHA-256 where one is known, then renamed into place (atomic: a
broken download never leaves a half file under the final name). A collection (Jane Austen's novels)
is several Project Gutenberg books saved as one text, each book's licence and header cut off.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import re
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


GUTENBERG = "https://www.gutenberg.org/cache/epub"  # + /N/pgN.txt: a book's plain text, UTF-8
BODY = re.compile(r"^\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG EBOOK[^\n]*\n(.*?)^\*\*\* ?END OF (?:THE|THIS) "
                  r"PROJECT GUTENBERG EBOOK", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Book:
    title: str  # the line each book starts with in the collection's text
    gutenberg: int  # its Project Gutenberg ebook number
    sha256: str | None = None  # of the book's text between Project Gutenberg's START and END lines, when pinned


@dataclass(frozen=True)
class Collection:
    """Several Project Gutenberg books saved as one text: each book's own text (Project Gutenberg's
    header and licence cut off, line ends made "\\n") after a line with its title, books in order."""
    name: str
    description: str
    books: tuple[Book, ...]
    base: str = GUTENBERG
    size: int | None = None

    @staticmethod
    def shown(book: Book) -> str:
        """The book's title as a reader writes it: "Sense and Sensibility"."""
        words = book.title.lower().split()
        return " ".join(w if 0 < i and w in ("and", "of", "the", "a", "in") else w.capitalize()
                        for i, w in enumerate(words))

    def url(self, book: Book) -> str:
        return f"{self.base}/{book.gutenberg}/pg{book.gutenberg}.txt"


AUSTEN = Collection("austen", "Jane Austen's five novels (about 3.6 MB, Project Gutenberg)", (
    Book("SENSE AND SENSIBILITY", 161), Book("PRIDE AND PREJUDICE", 1342), Book("MANSFIELD PARK", 141),
    Book("EMMA", 158), Book("NORTHANGER ABBEY", 121)), size=3_600_000)
# The books' checksums are not pinned yet: the machine this was written on could not reach gutenberg.org.
# `charlstm corpora get austen` prints each book's sha256; pinning them here makes every later fetch check them.

COLLECTIONS = {c.name: c for c in (AUSTEN,)}

SOURCES = {s.name: s for s in (
    Source("tinyshakespeare", "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
           "40,000 lines of Shakespeare's plays (1.1 MB), the usual character-model benchmark",
           "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1_115_394),
    Source("warandpeace", "https://www.gutenberg.org/cache/epub/2600/pg2600.txt",
           "Tolstoy, War and Peace, English translation (3.3 MB, Project Gutenberg #2600)"),
    Source("sherlock", "https://www.gutenberg.org/cache/epub/1661/pg1661.txt",
           "Conan Doyle, The Adventures of Sherlock Holmes (0.6 MB, Project Gutenberg #1661)"),
    AUSTEN,
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


def fetch(source: Source | Collection, dest: Path, progress: Callable[[int, int | None], None] | None = None,
          timeout: float = 30.0) -> tuple[Path, list[str]]:
    """Fetch a single text or a collection to `dest`; returns (dest, a line per check made)."""
    if isinstance(source, Collection):
        return fetch_collection(source, dest, progress, timeout)
    _, digest = download(source, dest, progress, timeout)
    return dest, ["checksum ok" if source.sha256 else f"no published checksum; sha256 {digest}"]


def fetch_collection(coll: Collection, dest: Path, progress: Callable[[int, int | None], None] | None = None,
                     timeout: float = 30.0) -> tuple[Path, list[str]]:
    """Download each book of `coll`, keep its text between Project Gutenberg's START and END lines,
    check it against the book's pinned SHA-256 (when there is one) and write the books to `dest` in
    one atomic write. Any failure leaves `dest` untouched. Returns (dest, a line per book)."""
    texts, lines = [], []
    whole = (lambda n, _: progress(n, coll.size)) if progress else None  # one bar for all the books
    for book in coll.books:
        source = Source(f"{coll.name}: {coll.shown(book)}", coll.url(book), "", None, None)
        buffer = io.BytesIO()
        _transfer(source, buffer, hashlib.sha256(), whole, timeout)
        text = buffer.getvalue().decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
        m = BODY.search(text)
        if m is None:
            raise FetchError(f"{source.name} ({source.url}) is not a Project Gutenberg text: its START and END "
                             "lines are missing; nothing was saved")
        body = m.group(1).strip("\n") + "\n"
        got = hashlib.sha256(body.encode("utf-8")).hexdigest()
        if book.sha256 and got != book.sha256:
            raise FetchError(f"{source.name}: checksum mismatch (got sha256 {got[:16]}..., expected "
                             f"{book.sha256[:16]}...); nothing was saved")
        texts.append(f"{book.title}\n\n{body}")
        lines.append(f"{coll.shown(book)} (#{book.gutenberg}): {len(body):,} characters, "
                     + ("checksum ok" if book.sha256 else f"no pinned checksum; sha256 {got}"))
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(Path(dest), encoding="utf-8") as out:
        out.write("\n\n\n".join(texts))
    return Path(dest), lines


class _WriteError(Exception):
    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error
