"""Shared test fixtures: a small corpus written for these tests and tiny configurations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Lines written for charlstm's tests; long enough for a few dozen tiny training windows.
VERSE = """The lamp was lit before the rain began,
and every window held a smaller lamp.
A cat slept on the chair beside the door;
the kettle sang, and no one came to hear it.
We counted boats that sailed across the bay:
one red, one white, one grey as winter stone.
"""
TINY_MODEL = dict(cell="lstm", embed=8, hidden=24, layers=2, dropout=0.3)


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    p = tmp_path / "verse.txt"
    p.write_text(VERSE * 12, encoding="utf-8")
    return p


@pytest.fixture
def tiny_config():
    from charlstm.config import TrainConfig

    def make(**kw):
        base = dict(batch_size=4, seq_len=16, lr=1e-2, warmup=0, steps=20, eval_every=10, log_every=1,
                    eval_chars=None, save_every=None, save_every_time=None, sample_every=0, seed=7,
                    precision="fp32", schedule="constant")
        base.update(kw)
        return TrainConfig(**base)
    return make


def run_events(events):
    """Collect events of a training generator into a list."""
    return list(events)


ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PYTHONHASHSEED", "0")
