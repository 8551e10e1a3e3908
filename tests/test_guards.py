"""CI guards on the claims that matter: quality after fixed steps, and training and sampling speed.

Speed is a ratio to the plain reference in bench/reference/, measured in this process in
interleaved rounds (A B A B ...), median of each: absolute times differ 2x between hosts of one
CPU kind and drift on a shared 2-core machine, a ratio measured side by side does not. Each floor
sits below every ratio measured on the CPUs in bench/RESULTS.md ("CI guards") and above what a
1.5x slowdown of charlstm would leave; the measured values are in the comments.
`python -m pytest -q -s tests/test_guards.py | grep guard:` prints what each measured.
"""

import statistics
import sys
import time

import pytest
import torch
from conftest import ROOT

from charlstm.config import ModelConfig, TrainConfig
from charlstm.events import Step, Stopped
from charlstm.model import CharLSTM
from charlstm.sampling.generate import SampleConfig, generate_text
from charlstm.tokenizer import CharTokenizer
from charlstm.training.start import train

sys.path.insert(0, str(ROOT / "bench" / "reference"))
import common as reference  # noqa: E402  (bench/reference/common.py: plain PyTorch, no charlstm)
from sample import sample_hand  # noqa: E402

PYDOCS = ROOT / "corpora" / "pydocs.txt"


@pytest.fixture(autouse=True)
def _two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


# --- quality: fixed steps of a fixed model on the bundled corpus, every random stream seeded --------

# measured 2.2383 on an AVX2 EPYC (torch 2.13, 2 threads); a forget-gate bias of 1, a default this project
# dropped for being worse, gives 2.2842 here: the bound sits between the two (bench/RESULTS.md, "CI guards")
QUALITY_BOUND = 2.265


def test_fixed_steps_on_the_bundled_corpus_reach_the_loss_bound(tmp_path):
    cfg = TrainConfig(steps=300, eval_every=300, eval_chars=60_000, sample_every=0, save_every=None,
                      save_every_time=None, precision="fp32", seed=1337, log_every=50)
    events = list(train([PYDOCS], None, cfg, run_dir=tmp_path / "q", preset="tiny"))
    stop = events[-1]
    assert isinstance(stop, Stopped) and stop.step == 300
    print(f"guard: quality {stop.best_val_loss:.4f} (bound {QUALITY_BOUND})")  # shown with -s
    assert stop.best_val_loss < QUALITY_BOUND, f"val {stop.best_val_loss:.4f} after 300 steps (bound {QUALITY_BOUND})"


# --- training speed: charlstm's whole loop against the plain reference step, same shapes ------------

SHAPE = dict(embed=128, hidden=128, layers=2)  # the reference's config S: 2x128, T 50, B 50
B, T = 50, 50
TRAIN_FLOOR = 0.80  # measured 0.97-1.02 on an AVX2 EPYC, step by step: a 1.5x slower loop would read ~0.66


def charlstm_steps(run_dir, steps: int):
    """charlstm's training loop, one step per next(): each call runs the loop until its next Step
    event, so the time inside the call is a whole step (window, forward, backward, clip, update,
    tallies, the metrics log)."""
    cfg = TrainConfig(batch_size=B, seq_len=T, steps=steps, eval_every=10**6, log_every=1, sample_every=0,
                      save_every=None, save_every_time=None, precision="fp32", schedule="constant", warmup=0)
    events = train([PYDOCS], dict(SHAPE, dropout=0.0), cfg, run_dir=run_dir)
    while True:
        if isinstance(next(events), Step):
            yield


def reference_steps():
    """The plain reference (bench/reference: nn.LSTM, Adam, clip 5, carried state), one step per next()."""
    text = PYDOCS.read_text(encoding="utf-8")
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text[:200_000]])
    torch.manual_seed(0)
    model = reference.PlainCharLSTM(len(chars), SHAPE["hidden"], SHAPE["layers"], embed=SHAPE["embed"])
    step = reference.Trainer(model, torch.optim.Adam(model.parameters(), lr=2e-3), reference.Lanes(ids, B, T),
                             len(chars))
    while True:
        yield step()


def test_training_keeps_pace_with_the_plain_reference(tmp_path):
    steps = 36
    ours, theirs = charlstm_steps(tmp_path / "r", steps + 1), reference_steps()
    times = {"ours": [], "theirs": []}
    for i in range(steps):  # A B A B ...: a burst of noise on the host falls on both alike
        for name, loop in (("ours", ours), ("theirs", theirs)):
            t = time.perf_counter()
            next(loop)
            if i >= 4:  # the first steps warm caches and allocators
                times[name].append(time.perf_counter() - t)
    a, b = statistics.median(times["ours"]), statistics.median(times["theirs"])
    ratio = b / a  # > 1: charlstm's step is faster
    print(f"guard: training {ratio:.3f}x the reference ({a * 1e3:.1f} against {b * 1e3:.1f} ms a step; "
          f"floor {TRAIN_FLOOR})")
    assert ratio > TRAIN_FLOOR, (f"charlstm trains at {ratio:.2f}x the plain reference's speed (floor {TRAIN_FLOOR}): "
                                 f"step {a * 1e3:.1f} ms against {b * 1e3:.1f} ms")


# --- sampling speed: the default engine against the plain hand-written step loop, 2x512, batch 1 ----

SAMPLE_FLOOR = 0.95  # measured 1.10-1.47 on an AVX2 EPYC: a 1.5x slower engine would read 0.73-0.98


def test_sampling_keeps_ahead_of_the_hand_written_loop():
    vocab = [chr(c) for c in range(32, 97)]  # 65 characters, as the reference's sampling model
    torch.manual_seed(0)
    ours = CharLSTM(ModelConfig(vocab_size=len(vocab), embed=128, hidden=512, layers=2)).eval()
    theirs = reference.PlainCharLSTM(len(vocab), 512, 2, embed=128).eval()
    tokenizer = CharTokenizer(vocab)
    n = 200

    def rate(fn) -> float:
        t = time.perf_counter()
        fn()
        return n / (time.perf_counter() - t)
    generate_text(ours, tokenizer, SampleConfig(length=50, seed=1))  # warm-up
    sample_hand(theirs, 1, 50)
    a, b = [], []
    for r in range(5):
        a.append(rate(lambda r=r: generate_text(ours, tokenizer, SampleConfig(length=n, temperature=1.0, seed=r))))
        b.append(rate(lambda: sample_hand(theirs, 1, n)))
    ratio = statistics.median(a) / statistics.median(b)
    print(f"guard: sampling {ratio:.3f}x the hand-written loop ({statistics.median(a):,.0f} against "
          f"{statistics.median(b):,.0f} chars/s; floor {SAMPLE_FLOOR})")
    assert ratio > SAMPLE_FLOOR, (f"charlstm samples at {ratio:.2f}x the hand-written loop (floor {SAMPLE_FLOOR}): "
                                  f"{statistics.median(a):,.0f} against {statistics.median(b):,.0f} chars/s")
