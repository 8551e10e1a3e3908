"""Characters to integer ids and back.

A vocabulary is the sorted list of Unicode codepoints seen in the (normalized) corpus, so emoji and
non-Latin scripts are single tokens, not byte sequences. Text is normalized (NFC by default) before
it is counted or encoded, so a word typed with combining marks and the same word precomposed get
the same ids. Knows nothing of torch or files.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from .errors import PrimeError

NORMALIZATIONS = ("NFC", "NFKC", "none")


def normalize(text: str, form: str = "NFC") -> str:
    """Apply a Unicode normalization form ('none' leaves the text as it is)."""
    if form == "none":
        return text
    return unicodedata.normalize(form, text)


def describe_char(ch: str) -> str:
    """'\\n' -> "'\\n' (U+000A LINE FEED)": a character shown so a person can tell it apart."""
    name = unicodedata.name(ch, "") or {"\n": "LINE FEED", "\t": "TAB", "\r": "CARRIAGE RETURN"}.get(ch, "?")
    return f"{ch!r} (U+{ord(ch):04X} {name})"


class CharTokenizer:
    """Maps characters to ids 0..V-1: in codepoint order for a new corpus. With `keep_order` the
    given order is kept, as a checkpoint stores it: a vocabulary extended for fine-tuning keeps
    its old ids and appends the new characters after them."""

    def __init__(self, chars: Iterable[str], normalization: str = "NFC", keep_order: bool = False,
                 aliases: dict[str, str] | None = None):
        """`aliases` maps characters outside the vocabulary to one inside it, which they are read as
        (fine-tuning with `--vocab map`); they never come out of `decode`."""
        chars = list(chars) if keep_order else sorted(set(chars))
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary entries must be distinct")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("vocabulary entries must be single characters")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}")
        aliases = dict(aliases or {})
        if any(not isinstance(a, str) or len(a) != 1 or a in chars or b not in chars for a, b in aliases.items()):
            raise ValueError("aliases must map characters outside the vocabulary to characters inside it")
        self.chars: list[str] = chars
        self.normalization = normalization
        self.aliases = aliases
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars)}
        self.stoi.update({a: self.stoi[b] for a, b in aliases.items()})

    @classmethod
    def from_text(cls, text: str, normalization: str = "NFC") -> CharTokenizer:
        return cls(set(normalize(text, normalization)), normalization)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def id_dtype_bits(self) -> int:
        """Smallest unsigned integer width that holds every id (8, 16 or 32)."""
        return 8 if self.vocab_size <= 256 else 16 if self.vocab_size <= 65536 else 32

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` (after normalization) that are not in the vocabulary, sorted."""
        return sorted(set(normalize(text, self.normalization)) - self.stoi.keys())

    def check_known(self, text: str) -> None:
        """Raise PrimeError listing (with codepoints) the characters the vocabulary lacks."""
        missing = self.unknown(text)
        if missing:
            shown = ", ".join(describe_char(c) for c in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise PrimeError(f"text holds characters the model never saw: {shown}{more} "
                             "(--skip-unknown drops them)")

    def encode(self, text: str, skip_unknown: bool = False) -> list[int]:
        text = normalize(text, self.normalization)
        if not skip_unknown:
            self.check_known(text)
        return [self.stoi[c] for c in text if c in self.stoi]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def to_dict(self) -> dict:
        d = {"chars": "".join(self.chars), "normalization": self.normalization}
        if self.aliases:
            d["aliases"] = dict(self.aliases)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CharTokenizer:
        aliases = d.get("aliases", {})
        if not isinstance(aliases, dict):
            raise ValueError("aliases must be a mapping of characters")
        return cls(list(d["chars"]), d["normalization"], keep_order=True, aliases=aliases)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and (self.chars, self.normalization, self.aliases) == (
            other.chars, other.normalization, other.aliases)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, normalization={self.normalization!r})"
