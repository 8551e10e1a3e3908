"""The network: Embedding -> multi-layer LSTM (or GRU, or plain RNN) -> Dropout -> Linear.

Two regularisers fight overfitting, both active only in training mode: dropout on the outputs of
each recurrent layer (between layers and before the output layer), and weight drop: DropConnect
on the hidden-to-hidden matrices (Wan et al. 2013, used for LSTMs by Merity et al. 2017, "AWD-LSTM"),
which zeroes a random fraction of the recurrent weights for a whole window, so the same mask acts at
every time step and the memory itself, not only the layer outputs, is regularised.

Recurrent state is explicit: `forward(idx, state) -> (logits, state)`, never kept inside the
module, so training can carry it across windows and sampling across steps. Shapes: B batch,
T time, V vocabulary, E embedding, H hidden, L layers. Imports torch and config only.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from .config import ModelConfig, weight_shapes  # noqa: F401  (re-exported)

State = tuple[torch.Tensor, ...]  # lstm: (h[L,B,H], c[L,B,H]); gru and rnn: (h[L,B,H],)

_RNN = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharLSTM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.embed)
        # nn.LSTM applies dropout to the outputs of every layer but the last
        self.rnn = _RNN[c.cell](c.embed, c.hidden, c.layers, batch_first=True,
                                dropout=c.dropout if c.layers > 1 else 0.0)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, c.vocab_size)
        # No forget-gate bias of 1 (Jozefowicz et al. 2015): measured here it made validation loss
        # worse at equal steps (tests/test_guards.py holds the bound; bench/RESULTS.md, "CI guards"),
        # so the LSTM keeps PyTorch's uniform(-1/sqrt(H), 1/sqrt(H)) initialisation.

    @property
    def state_size(self) -> int:
        return 2 if self.config.cell == "lstm" else 1

    def init_state(self, batch_size: int, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> State:
        z = torch.zeros(self.config.layers, batch_size, self.config.hidden, device=device, dtype=dtype)
        return tuple(z.clone() for _ in range(self.state_size))

    def forward(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """idx[B, T] int64 -> logits[B, T, V] and the state after the last step."""
        if state is None:
            state = self.init_state(idx.shape[0], idx.device, self.embed.weight.dtype)
        x = self.embed(idx)  # B, T, E
        h0 = state if self.config.cell == "lstm" else state[0]
        p = self.config.weight_drop
        if self.training and p > 0:  # one mask per window, rescaled by 1/(1-p) like dropout
            dropped = {n: F.dropout(w, p) for n, w in self.rnn.named_parameters() if n.startswith("weight_hh")}
            with warnings.catch_warnings():  # cuDNN copies the fresh weights into one buffer, as it must
                warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous")
                out, new = functional_call(self.rnn, dropped, (x, h0))  # out: B, T, H
        else:
            out, new = self.rnn(x, h0)
        new = tuple(new) if isinstance(new, tuple) else (new,)
        return self.head(self.drop(out)), new

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State) -> State:
    """Cut the graph at a window boundary: memory flows on, gradients stop (truncated BPTT)."""
    return tuple(s.detach() for s in state)
