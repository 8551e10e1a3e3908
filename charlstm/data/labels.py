"""Style labels on a corpus (`train --styles`): which file is which style, and the token run that knows.

`label_files` gives each file a style: `folder` names it after the sub-folder of the corpus folder
it sits in, `file` after the file itself, and a mapping file (lines `STYLE: GLOB [GLOB ...]`, globs
matched against the path below the corpus folder, the first matching line winning) for anything
else. `StyledTokens` is the encoded corpus laid out style by style: it reads like a `Tokens` (spans
cross file and style boundaries seamlessly), says which style each id has (`read_styles`), and
splits per style (`split`), so each style's own tail is held out and scored. Knows nothing of torch.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CorpusError
from .tokenfile import IdRun, Tokens

HOW = ("folder", "file")  # or a path to a mapping file


def label_files(paths: list[str | Path], files: list[Path], how: str) -> list[str]:
    """The style of each of `files` (found from the corpus arguments `paths`) as `how` says."""
    if how == "folder":
        return [_sub_folder(paths, f) for f in files]
    if how == "file":
        names = [f.stem for f in files]
        return [str(_relative(paths, f)) if names.count(f.stem) > 1 else f.stem for f in files]
    return _mapped(paths, files, Path(how))


def _relative(paths: list[str | Path], f: Path) -> Path:
    """`f` below the corpus argument it was found in (its name where it was named itself)."""
    for p in map(Path, paths):
        if p.is_dir() and f.is_relative_to(p):
            return f.relative_to(p)
    return Path(f.name)


def _sub_folder(paths: list[str | Path], f: Path) -> str:
    rel = _relative(paths, f)
    if len(rel.parts) < 2:
        raise CorpusError(f"--styles folder: {f} is not inside a sub-folder of a corpus folder; give each style "
                          "a sub-folder (corpus/verse/..., corpus/code/...), or use --styles file or a mapping file")
    return rel.parts[0]


def read_mapping(path: Path) -> list[tuple[str, list[str]]]:
    """The lines `STYLE: GLOB [GLOB ...]` of a mapping file ('#' starts a comment)."""
    if not path.is_file():
        raise CorpusError(f"--styles must be folder, file or a mapping file; {path} is none of these")
    rules = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, globs = line.partition(":")
        if not sep or not name.strip() or not globs.split():
            raise CorpusError(f"{path}:{n}: expected 'STYLE: GLOB [GLOB ...]', got {line!r}")
        rules.append((name.strip(), globs.split()))
    if not rules:
        raise CorpusError(f"{path}: no 'STYLE: GLOB' lines")
    return rules


def _mapped(paths: list[str | Path], files: list[Path], mapping: Path) -> list[str]:
    rules = read_mapping(mapping)
    out, missed = [], []
    for f in files:
        rel = _relative(paths, f).as_posix()
        name = next((n for n, globs in rules if any(fnmatch.fnmatch(rel, g) for g in globs)), None)
        out.append(name or "")
        if name is None:
            missed.append(rel)
    if missed:
        raise CorpusError(f"{mapping}: {len(missed)} file(s) match no line, e.g. {', '.join(missed[:3])}; "
                          "add a line for them (or '--pattern' to leave them out)")
    return out


@dataclass(frozen=True)
class Span:
    start: int  # in the token file
    length: int
    style: int


class StyledTokens(IdRun):
    """Spans of a token file, in order, each with a style id; reads as one run of ids."""

    def __init__(self, tokens: Tokens, spans: list[Span], names: tuple[str, ...]):
        self.tokens, self.spans, self.names = tokens, [s for s in spans if s.length > 0], names
        self.ends = np.cumsum([s.length for s in self.spans]) if self.spans else np.zeros(0, np.int64)
        self.dtype = tokens.dtype

    @classmethod
    def build(cls, tokens: Tokens, file_sizes: list[int], labels: list[str]) -> StyledTokens:
        """The corpus laid out style by style (styles in order of first appearance, files in order)."""
        names = tuple(dict.fromkeys(labels))
        starts = np.concatenate([[0], np.cumsum(file_sizes)[:-1]]).astype(int)
        spans = [Span(int(s), int(n), names.index(lab)) for lab in names
                 for s, n, lab2 in zip(starts, file_sizes, labels) if lab2 == lab]
        return cls(tokens, spans, names)

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def _pieces(self, start: int, length: int):
        """(span index, offset in span, count) covering [start, start + length), clipped at the end."""
        stop = min(start + length, len(self))
        k = int(np.searchsorted(self.ends, start, side="right"))
        while start < stop:
            first = int(self.ends[k - 1]) if k else 0
            n = min(stop, int(self.ends[k])) - start
            yield k, start - first, n
            start, k = start + n, k + 1

    def read(self, start: int = 0, length: int | None = None) -> np.ndarray:
        length = len(self) - start if length is None else length
        parts = [self.tokens.read(self.spans[k].start + off, n) for k, off, n in self._pieces(start, length)]
        return np.concatenate(parts) if parts else np.zeros(0, self.dtype)

    def read_styles(self, start: int = 0, length: int | None = None) -> np.ndarray:
        """The style id of each id `read` returns for the same arguments."""
        length = len(self) - start if length is None else length
        parts = [np.full(n, self.spans[k].style, np.int64) for k, _, n in self._pieces(start, length)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def slice(self, start: int, stop: int | None = None) -> StyledTokens:
        stop = len(self) if stop is None else min(stop, len(self))
        spans = [Span(self.spans[k].start + off, n, self.spans[k].style)
                 for k, off, n in self._pieces(start, max(0, stop - start))]
        return StyledTokens(self.tokens, spans, self.names)

    def renamed(self, names: tuple[str, ...]) -> StyledTokens:
        """The same text with each style id the position of its name in `names` (which holds them all)."""
        where = [names.index(n) for n in self.names]
        return StyledTokens(self.tokens, [Span(s.start, s.length, where[s.style]) for s in self.spans], tuple(names))

    def style(self, k: int) -> StyledTokens:
        """Only the text of style k."""
        return StyledTokens(self.tokens, [s for s in self.spans if s.style == k], self.names)

    def chars(self) -> list[int]:
        """How many ids each style has."""
        return [sum(s.length for s in self.spans if s.style == k) for k in range(len(self.names))]

    def split(self, val_fraction: float) -> tuple[StyledTokens, StyledTokens]:
        """Per style, the last `val_fraction` of its text is validation, so every style is scored."""
        train, val = [], []
        for k in range(len(self.names)):
            own = self.style(k)
            cut = len(own) - int(len(own) * val_fraction)
            train += own.slice(0, cut).spans
            val += own.slice(cut).spans
        return StyledTokens(self.tokens, train, self.names), StyledTokens(self.tokens, val, self.names)

