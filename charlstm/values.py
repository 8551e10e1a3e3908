"""Plain values every part checks the same way: the seed limit, what counts as a finite number, and
the JSON-safe copy of a record (JSON has no NaN or infinity)."""

from __future__ import annotations

import math

MAX_SEED = 2**63 - 1  # torch.manual_seed takes 64 bits


def is_finite_number(v: object) -> bool:
    """An int or a float (not a bool) that is neither NaN nor infinite."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def json_safe(v: object) -> object:
    """A copy JSON can hold: NaN and infinities (at any depth) become None, tuples lists, keys strings,
    and anything that is not a number, a string, None, a list or a dict its text."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if v is None or isinstance(v, (bool, int, str)):
        return v
    return str(v)
