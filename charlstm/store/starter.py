"""The starter model shipped inside the package: where it lies, and the name users call it by.

`tools/make_starter.py` trains it and writes it here as a slim checkpoint (weights, vocabulary,
configs; no optimizer state). Knows nothing of torch or of what a checkpoint holds.
"""

from __future__ import annotations

from pathlib import Path

NAME = "starter"  # `--init-from starter`, `charlstm sample starter`, `charlstm info starter`
FILE = Path(__file__).parents[1] / "assets" / "starter.pt"


def path() -> Path | None:
    """The packaged starter checkpoint, or None when this install has none."""
    return FILE if FILE.is_file() else None
