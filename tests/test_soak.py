"""SIGKILL at random moments, resume each time: nothing lost beyond one save interval (slow)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))


@pytest.mark.slow
def test_soak_random_kills(tmp_path):
    from soak import soak
    corpus = Path(__file__).resolve().parent.parent / "corpora" / "pydocs.txt"
    r = soak(str(corpus), kills=10, steps=3000, save_every=20, seed=1, workdir=tmp_path)
    assert r["kills"] == 10 and r["resumes"] >= 10
    assert r["max_steps_lost"] <= 20
    assert r["checkpoints"]["last.pt"] == 3000 and r["temp_files_left"] == []
