"""Reading corpora: which files, how they are decoded, and streaming them into token ids.

Files are read as UTF-8 (whatever the locale) in blocks, with the BOM stripped, line endings made
explicit, and Unicode normalized, so a multi-gigabyte corpus never sits in memory as one string.
`encode_files` writes the ids to a flat token file that training reads span by span (tokenfile.py). Knows nothing of
torch, models or the terminal: progress is reported through a callback.
"""

from __future__ import annotations

import codecs
import fnmatch
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CorpusError, Interrupted
from ..store import runs
from ..store.files import atomic_write, write_all
from ..store.portable import WILDCARDS, expand_paths, open_fd
from ..tokenizer import CharTokenizer, describe_char, normalize

BLOCK = 1 << 20  # bytes read per block
BINARY_SNIFF = 8000  # like git: a NUL byte in the first 8000 bytes means binary
MAX_CODEPOINT = 0x110000
NEWLINES = ("lf", "keep")  # lf: \r\n and lone \r become \n; keep: bytes as they are
Progress = Callable[[int], None]  # called with the number of bytes just processed
ShouldStop = Callable[[], bool]  # asked once per block: True stops reading (errors.Interrupted)
STOPPED = "stopped while reading the corpus; nothing was kept"


@dataclass(frozen=True)
class ReadOptions:
    encoding: str = "utf-8"
    errors: str = "strict"  # strict | replace | ignore
    newline: str = "lf"
    normalization: str = "NFC"
    pattern: str = "*"  # file-name glob applied inside directories

    def __post_init__(self) -> None:
        if self.errors not in ("strict", "replace", "ignore"):
            raise CorpusError(f"--errors must be strict, replace or ignore, not {self.errors!r}")
        if self.newline not in NEWLINES:
            raise CorpusError(f"--newline must be one of {', '.join(NEWLINES)}")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise CorpusError(f"unknown encoding {self.encoding!r}") from None


@dataclass
class CorpusFiles:
    files: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, reason)

    @property
    def total_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def is_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(BINARY_SNIFF)


def find_files(paths: list[str | Path], pattern: str = "*") -> CorpusFiles:
    """Expand files, wildcards and directories (recursively, sorted, hidden entries skipped) into text files.
    A named file that is binary is an error; a binary file found inside a directory is skipped, and
    so are charlstm's own run folders and checkpoints (`charlstm train .` must not read its runs)."""
    if not paths:
        raise CorpusError("no corpus given: name at least one text file or directory")
    found = CorpusFiles(files=[])
    for p in expand_paths(paths):  # `data/*.txt` as typed in Windows' shells, or quoted in a POSIX one
        if not p.exists():
            raise CorpusError(f"corpus not found: {p}" + (" (no file matches that pattern)"
                                                            if not WILDCARDS.isdisjoint(str(p)) else ""))
        if p.is_file():
            if is_binary(p):
                raise CorpusError(f"{p} looks binary (a NUL byte in its first {BINARY_SNIFF} bytes); "
                                  "charlstm trains on text files")
            found.files.append(p)
            continue
        texts = []
        for q in _walk(p, pattern, found.skipped):
            if is_binary(q):
                found.skipped.append((q, "binary"))
            elif q.stat().st_size == 0:
                found.skipped.append((q, "empty"))
            else:
                texts.append(q)
        if not texts:
            raise CorpusError(f"directory {p} holds no text files matching {pattern!r}"
                              + (f" ({len(found.skipped)} skipped as binary, empty or charlstm's own)"
                                 if found.skipped else ""))
        found.files.extend(texts)
    return found


def _walk(top: Path, pattern: str, skipped: list[tuple[Path, str]]) -> list[Path]:
    """The files under `top` whose names match `pattern`, sorted, passing over hidden entries, run
    folders (runs.is_run_folder: a finished run or one being written) and checkpoints (*.pt)."""
    out = []
    for where, dirs, names in os.walk(top):  # like Path.rglob: links to folders are not followed
        here = Path(where)
        keep = []
        for d in sorted(dirs):
            if d.startswith("."):
                continue
            if runs.is_run_folder(here / d):
                skipped.append((here / d, "a charlstm run folder"))
            else:
                keep.append(d)
        dirs[:] = keep
        for name in names:
            if name.startswith(".") or not fnmatch.fnmatch(name, pattern) or not (here / name).is_file():
                continue
            if name.endswith(".pt"):
                skipped.append((here / name, "a checkpoint"))
            else:
                out.append(here / name)
    return sorted(out)


def iter_text(path: Path, opts: ReadOptions, progress: Progress | None = None,
              should_stop: ShouldStop | None = None) -> Iterator[str]:
    """Decoded, newline-fixed, normalized text of one file, in blocks that end at a line break
    (normalization never straddles a block) except for a file's last block. `should_stop` is asked
    before each block is read; True raises Interrupted."""
    decoder = codecs.getincrementaldecoder(opts.encoding)(opts.errors)
    offset, carry, first = 0, "", True
    with open(path, "rb") as f:
        while True:
            if should_stop is not None and should_stop():
                raise Interrupted(STOPPED)
            raw = f.read(BLOCK)
            final = not raw
            pending = len(decoder.getstate()[0])  # bytes of a split character held from the last block
            try:
                text = decoder.decode(raw, final=final)
            except UnicodeDecodeError as e:
                at = offset - pending + e.start
                raise CorpusError(
                    f"{path}: invalid {opts.encoding} at byte {at} ({e.object[e.start:e.start + 4]!r}); "
                    "re-run with --encoding NAME if the file uses another encoding, or --errors replace "
                    "or --errors ignore to go on") from None
            offset += len(raw)
            if first and text.startswith("\ufeff"):
                text = text[1:]
            if text:
                first = False
            text = carry + text
            if opts.newline == "lf":
                # a \r at the end of the block may be the first half of \r\n: hold it back
                hold = text.endswith("\r") and not final
                text = text[:-1] if hold else text
                text = text.replace("\r\n", "\n").replace("\r", "\n")
                carry = "\r" if hold else ""
            else:
                carry = ""
            if not final:
                cut = text.rfind("\n") + 1
                if cut == 0 and len(text) < 16 * BLOCK:
                    carry, text = text + carry, ""  # no line break yet: keep reading
                else:
                    cut = cut or len(text)
                    carry, text = text[cut:] + carry, text[:cut]
            if text:
                yield normalize(text, opts.normalization)
            if progress and raw:
                progress(len(raw))
            if final:
                return


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _iter_corpus(files: list[Path], opts: ReadOptions, progress: Progress | None,
                 should_stop: ShouldStop | None = None) -> Iterator[str]:
    """All files as one stream; a file that does not end in a line break gets one."""
    for path in files:
        last = ""
        for block in iter_text(path, opts, progress, should_stop):
            last = block[-1]
            yield block
        if last and last != "\n":
            yield "\n"


def scan_vocabulary(files: list[Path], opts: ReadOptions, progress: Progress | None = None,
                    should_stop: ShouldStop | None = None) -> np.ndarray:
    """Pass 1: how often each codepoint occurs (array of MAX_CODEPOINT counts)."""
    counts = np.zeros(MAX_CODEPOINT, dtype=np.int64)
    for block in _iter_corpus(files, opts, progress, should_stop):
        seen = np.bincount(_codepoints(block))  # only as long as the largest codepoint in the block
        counts[: len(seen)] += seen
    return counts


def tokenizer_from_counts(counts: np.ndarray, normalization: str) -> CharTokenizer:
    return CharTokenizer([chr(c) for c in np.flatnonzero(counts)], normalization)


def id_dtype(tokenizer: CharTokenizer) -> np.dtype:
    return np.dtype({8: np.uint8, 16: np.uint16, 32: np.uint32}[tokenizer.id_dtype_bits])


def _lookup_table(tokenizer: CharTokenizer) -> np.ndarray:
    lut = np.full(MAX_CODEPOINT, -1, dtype=np.int32)
    known = list(tokenizer.stoi.items())  # the vocabulary and any aliases
    lut[[ord(c) for c, _ in known]] = [i for _, i in known]
    return lut


def encode_text(text: str, tokenizer: CharTokenizer) -> np.ndarray:
    """Ids of `text` (normalized as the tokenizer says) in the narrowest dtype; unknown characters
    raise PrimeError through the tokenizer's message."""
    tokenizer.check_known(text)
    ids = _lookup_table(tokenizer)[_codepoints(normalize(text, tokenizer.normalization))]
    return ids.astype(id_dtype(tokenizer))


def encode_files(files: list[Path], tokenizer: CharTokenizer, opts: ReadOptions, out: Path,
                 progress: Progress | None = None, should_stop: ShouldStop | None = None) -> list[int]:
    """Pass 2: write the ids of all files to `out` (raw array of id_dtype); returns how many ids
    each file gave, in order (styles label text by file). Written through `write_atomically`, so a
    half-written file is never mistaken for a cache."""
    lut = _lookup_table(tokenizer)
    dtype = id_dtype(tokenizer)
    sizes: list[int] = []

    def blocks() -> Iterator[bytes]:
        for path in files:
            sizes.append(0)
            for block in _iter_corpus([path], opts, progress, should_stop):
                cps = _codepoints(block)
                ids = lut[cps]
                if ids.min() < 0:
                    bad = chr(int(cps[np.argmax(ids < 0)]))
                    raise CorpusError(f"character {describe_char(bad)} is not in the vocabulary")
                sizes[-1] += len(ids)
                yield ids.astype(dtype, copy=False).tobytes()
    write_atomically(out, blocks())
    return sizes


def write_atomically(out: Path, chunks: Iterable[bytes]) -> None:
    """Write `chunks` to `out` through store.files.atomic_write: `out` holds the old file or the whole
    new one. A failed write (a full disk, a file size limit, an unwritable folder) is one CorpusError
    naming `out`; on any failure, reading errors and interruptions included, nothing is kept."""
    out = Path(out)
    try:
        with atomic_write(out) as f:
            for chunk in chunks:
                write_all(f, chunk)
    except OSError as e:
        raise CorpusError(f"could not write {out}: {e.strerror or e}; nothing was kept") from None


def fingerprint(files: list[Path], opts: ReadOptions) -> dict:
    """What decides whether a cached token file is still valid: the files' names, sizes and
    modification times, and every option that changes the decoded text."""
    return {
        "files": [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files],
        "options": {"encoding": opts.encoding, "errors": opts.errors, "newline": opts.newline,
                    "normalization": opts.normalization},
    }


def read_meta(path: Path) -> dict | None:
    """A cache record written by corpus.py (None when missing, unreadable, or a link)."""
    try:
        with open(open_fd(path, os.O_RDONLY), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def known_ids(text: str, tokenizer: CharTokenizer) -> tuple[np.ndarray, Counter]:
    """`text` (line breaks made \\n, normalized as the model's corpus was) as ids, leaving out the
    characters the model never saw; returns the ids and a count of what was left out."""
    known, unknown, ids = tokenizer.stoi, Counter(), []
    for c in normalize(text.replace("\r\n", "\n").replace("\r", "\n"), tokenizer.normalization):
        i = known.get(c)
        if i is None:
            unknown[c] += 1
        else:
            ids.append(i)
    return np.asarray(ids, dtype=np.int64), unknown


def read_known(paths: list[str | Path], tokenizer: CharTokenizer, opts: ReadOptions) -> tuple[np.ndarray, list[str],
                                                                                           Counter]:
    """The files `paths` name, read as the model's corpus was (`opts`), as one stream of the ids the
    model knows: (ids, the files read, a count of the characters left out)."""
    found = find_files(paths, opts.pattern)
    known, unknown, parts = tokenizer.stoi, Counter(), []
    for f in found.files:
        for block in iter_text(f, opts):
            parts.extend(known[c] for c in block if c in known)
            unknown.update(c for c in block if c not in known)
    return np.asarray(parts, dtype=np.int64), [str(f) for f in found.files], unknown
