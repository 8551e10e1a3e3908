"""What the playground page may ask for, checked field by field before any work: JSON bodies read
strictly (no NaN or Infinity), numbers in range, text within its limit, no unknown fields. A
refusal is a `RequestError` carrying the HTTP status and one line for the page. Knows nothing of
the web server or the terminal.
"""

from __future__ import annotations

import json
import secrets

from ..sampling.generate import SampleConfig
from ..values import MAX_SEED, is_finite_number
from .session import Probe

MAX_LENGTH = 10_000  # characters per generation
MAX_TEXT = 10_000  # characters of a prime or of a text to inspect
MAX_BODY = 256 * 1024  # bytes of a request body
GENERATE_FIELDS = {"run", "prime", "temperature", "top_k", "top_p", "min_p", "length", "seed", "skip_unknown", "layer",
                   "unit", "state", "adapt", "style"}
INSPECT_FIELDS = {"run", "text", "layer", "unit", "state", "style"}


class RequestError(Exception):
    """A request the server refuses: the page gets {"error": message} with this status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(raw: bytes) -> dict:
    """A request body as a JSON object; NaN, Infinity and anything but an object are refused."""
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise RequestError(400, "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return data


def number(d: dict, key: str, default, whole: bool, lo: float | None = None, hi: float | None = None):
    """d[key] (the default when absent; null where the default is None) checked as a whole or a
    finite number in [lo, hi]. A whole number may come as a string of digits: JavaScript's numbers
    lose seeds above 2**53."""
    v = d.get(key, default)
    if v is None and default is None:
        return None
    if whole and isinstance(v, str) and v.strip().isdigit() and len(v.strip()) <= 20:
        v = int(v.strip())
    ok = not isinstance(v, bool) and (isinstance(v, int) if whole else is_finite_number(v))
    if ok and (lo is None or v >= lo) and (hi is None or v <= hi):
        return v
    what = "a whole number" if whole else "a finite number"
    span = f" from {lo:g} to {hi:g}" if lo is not None and hi is not None else f" >= {lo:g}" if lo is not None else ""
    raise RequestError(400, f"{key} must be {what}{span}, got {json.dumps(v)[:40]}")


def text(d: dict, key: str, default: str = "", limit: int = MAX_TEXT) -> str:
    v = d.get(key, default)
    if not isinstance(v, str):
        raise RequestError(400, f"{key} must be text, got {json.dumps(v)[:40]}")
    if len(v) > limit:
        raise RequestError(413, f"{key} is {len(v):,} characters; at most {limit:,}")
    return v


def only(d: dict, allowed: set[str]) -> None:
    """Refuse fields the server does not know (a misspelt option would otherwise be ignored)."""
    extra = sorted(set(d) - allowed)
    if extra:
        raise RequestError(400, f"unknown field(s): {', '.join(repr(k[:40]) for k in extra[:5])}; "
                                f"known: {', '.join(sorted(allowed))}")


def probe(d: dict) -> Probe:
    state = d.get("state", "c")
    if state not in ("c", "h"):
        raise RequestError(400, f"state must be \"c\" or \"h\", got {json.dumps(state)[:40]}")
    return Probe(number(d, "layer", 0, True, 0), number(d, "unit", 0, True, 0), state)


def adapt_text(d: dict) -> str:
    """The text a generate request asks the model to adapt to first ("" for none)."""
    return text(d, "adapt")


def style_spec(d: dict) -> str | None:
    """The style a request asks for: a name or a blend 'a:0.7,b:0.3' (None or "": every style alike)."""
    return text(d, "style", limit=1000) or None


def generate_options(d: dict) -> tuple[SampleConfig, str, bool, Probe]:
    """(sampling config, prime, skip_unknown, probe) of a generate request. No seed: one is drawn,
    as `charlstm sample` draws one, and the stream says which."""
    only(d, GENERATE_FIELDS)
    seed = number(d, "seed", None, True, 0, MAX_SEED)
    cfg = SampleConfig(length=number(d, "length", 500, True, 0, MAX_LENGTH),
                       temperature=float(number(d, "temperature", 1.0, False, 0, 100)),
                       top_k=number(d, "top_k", None, True, 1), top_p=number(d, "top_p", None, False, 1e-9, 1),
                       min_p=number(d, "min_p", None, False, 0, 1),
                       seed=secrets.randbelow(2**31) if seed is None else seed)
    skip = d.get("skip_unknown", False)
    if not isinstance(skip, bool):
        raise RequestError(400, "skip_unknown must be true or false")
    return cfg, text(d, "prime"), skip, probe(d)


def inspect_options(d: dict) -> tuple[str, Probe]:
    only(d, INSPECT_FIELDS)
    return text(d, "text"), probe(d)
