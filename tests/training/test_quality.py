"""Guard against quality regressions: a short fixed-step run on the bundled corpus must stay under
a loss bound (measured value in the comment; the bound leaves room for thread-count noise)."""

import pytest
from conftest import ROOT

from charlstm.config import TrainConfig
from charlstm.events import Stopped
from charlstm.training.start import train

# measured 1.8075 after 300 steps (torch 2.13 CPU, 2 threads, 87 s); the forget-gate-bias default
# that was removed cost 0.07-0.2 at this stage, so a margin of 0.05 catches a regression like it
BOUND = 1.86


@pytest.mark.slow
def test_short_run_on_pydocs_stays_under_the_loss_bound(tmp_path):
    cfg = TrainConfig(steps=300, eval_every=300, eval_chars=100_000, sample_every=0, save_every=None,
                      save_every_time=None, precision="fp32", seed=1337)
    events = list(train([ROOT / "corpora" / "pydocs.txt"], None, cfg, run_dir=tmp_path / "q", preset="small"))
    stop = events[-1]
    assert isinstance(stop, Stopped) and stop.step == 300
    assert stop.best_val_loss < BOUND, f"val {stop.best_val_loss:.4f} after 300 steps (bound {BOUND})"

