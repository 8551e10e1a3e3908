"""SIGKILL at random moments, resume each time: nothing lost beyond one save interval (slow)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


@pytest.mark.slow
def test_soak_random_kills(tmp_path):
    from soak import soak
    corpus = Path(__file__).resolve().parents[2] / "corpora" / "pydocs.txt"
    r = soak(str(corpus), kills=10, steps=3000, save_every=20, seed=1, workdir=tmp_path)
    assert r["kills"] == 10 and r["resumes"] >= 10, r
    # every resume said where it resumed, so each kill was measured: with no measurement max_steps_lost is 0
    assert len(r["steps_lost"]) == r["resumes"], r
    assert r["max_steps_lost"] == max(r["steps_lost"]) <= 20
    assert r["checkpoints"]["last.pt"] == 3000 and r["temp_files_left"] == []
