"""Pieces shared by the plain PyTorch reference scripts in this folder (not run by itself).

The reference is what charlstm is measured against: the char-LSTM anyone would write from the
PyTorch documentation, with nothing of charlstm in it (no charlstm import, on purpose).

Corpus: read as Unicode characters, vocabulary = the sorted set of characters, the first 90% of the
ids for training and the last 10% for validation.
Model: Embedding(V, 128) -> nn.LSTM(layers, hidden, batch_first, dropout between layers)
-> Dropout -> Linear(hidden, V).
Training data: the training ids cut into B contiguous lanes read side by side, T characters per
step; the LSTM state is carried from one window to the next (detached) and dropped when the lanes
wrap around to their start.
FLOPs: matrix products only; forward per character = sum over layers of 2*(in+H)*4H, plus 2*H*V for
the output layer; a training step counts 3x the forward.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO / "corpora" / "tinyshakespeare.txt"  # `charlstm corpora get tinyshakespeare` puts it there

# name: (layers, hidden, seq, batch); the embedding is EMBED wide in every config
CONFIGS = {
    "S": {"layers": 2, "hidden": 128, "seq": 50, "batch": 50},
    "M": {"layers": 2, "hidden": 512, "seq": 128, "batch": 64},
    "L": {"layers": 3, "hidden": 512, "seq": 128, "batch": 64},
}
EMBED = 128


def read_corpus(path: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(training ids, validation ids, vocabulary) of a UTF-8 text file."""
    path = Path(path) if path else DEFAULT_CORPUS
    if not path.is_file():
        raise SystemExit(f"reference: corpus {path} not found (pass --corpus FILE, or fetch tiny shakespeare "
                         "into corpora/ with `charlstm corpora get tinyshakespeare`)")
    text = path.read_text(encoding="utf-8")
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = torch.tensor([index[ch] for ch in text], dtype=torch.long)
    cut = int(len(ids) * 0.9)
    return ids[:cut], ids[cut:], vocab


class PlainCharLSTM(nn.Module):
    def __init__(self, vocab: int, hidden: int, layers: int, dropout: float = 0.0, embed: int = EMBED):
        super().__init__()
        # creation order (embedding, LSTM, output layer) fixes which random numbers each gets per seed
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor, state=None):
        y, state = self.rnn(self.embed(ids), state)
        return self.out(self.dropout(y)), state


def train_flops_per_char(layers: int, hidden: int, vocab: int, embed: int = EMBED) -> tuple[int, int]:
    """(forward, training) matrix-product FLOPs per character."""
    widths = [embed] + [hidden] * (layers - 1)
    forward = sum(2 * (w + hidden) * 4 * hidden for w in widths) + 2 * hidden * vocab
    return forward, 3 * forward


class Lanes:
    """The ids as `batch` contiguous lanes; next() gives the following (inputs, targets, fresh) window,
    fresh being True at the first window and whenever the lanes wrap around."""

    def __init__(self, ids: torch.Tensor, batch: int, seq: int):
        per_lane = (len(ids) - 1) // batch
        self.inputs = ids[:batch * per_lane].reshape(batch, per_lane)
        self.targets = ids[1:batch * per_lane + 1].reshape(batch, per_lane)
        self.seq = seq
        self.windows = per_lane // seq  # windows per pass over the text
        self.i = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        if self.i == self.windows:
            self.i = 0
        start = self.i * self.seq
        self.i += 1
        return self.inputs[:, start:start + self.seq], self.targets[:, start:start + self.seq], start == 0


class Trainer:
    """One plain training step per call: the next window, forward with the carried state (dropped when
    the lanes start over), cross-entropy, backward, clip at 5, the optimizer's step, the state
    detached. Returns the window's loss; `losses` keeps them all."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, lanes: Lanes, vocab: int):
        self.model, self.opt, self.lanes, self.vocab = model, opt, lanes, vocab
        self.state = None
        self.losses: list[float] = []

    def __call__(self) -> float:
        x, y, fresh = self.lanes.next()
        if fresh:
            self.state = None
        self.opt.zero_grad(set_to_none=True)
        logits, state = self.model(x, self.state)
        loss = F.cross_entropy(logits.reshape(-1, self.vocab), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step()
        self.state = tuple(s.detach() for s in state)
        self.losses.append(loss.item())
        return self.losses[-1]


@torch.inference_mode()
def val_loss(model: nn.Module, ids: torch.Tensor, vocab: int, lanes: int = 64, window: int = 256) -> float:
    """Mean cross-entropy in nats/char over every validation target (len(ids) - 1 of them): the ids in
    `lanes` contiguous lanes, state carried along each lane, the end of the last lane padded and
    left out of the sum."""
    training = model.training
    model.eval()
    n = len(ids) - 1
    per_lane = math.ceil(n / lanes)
    x = torch.zeros(lanes * per_lane, dtype=torch.long)
    y = torch.full((lanes * per_lane,), -100, dtype=torch.long)
    x[:n], y[:n] = ids[:-1], ids[1:]
    x, y = x.reshape(lanes, per_lane), y.reshape(lanes, per_lane)
    total, state = 0.0, None
    for start in range(0, per_lane, window):
        logits, state = model(x[:, start:start + window], state)
        total += F.cross_entropy(logits.reshape(-1, vocab), y[:, start:start + window].reshape(-1),
                                 ignore_index=-100, reduction="sum").item()
    model.train(training)
    return total / n


def spread(values: list[float]) -> dict:
    """median, min, max, p10, p90, mean and n of a list of numbers."""
    v = sorted(values)
    n = len(v)
    median = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return {"median": median, "min": v[0], "max": v[-1], "p10": v[int(0.1 * (n - 1))], "p90": v[int(0.9 * (n - 1))],
            "mean": sum(v) / n, "n": n}


def loadavg() -> str | None:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return None


clock = time.perf_counter
