"""The network: Embedding -> multi-layer LSTM (or GRU, or plain RNN) -> Dropout -> Linear.

A styled model (config.styles) also holds one learned vector per style (`style`), joined to the
character's embedding at every step, so the first layer reads [embedding; style vector]. A blend
of styles is a weighted mean of their vectors (styles.py folds a fixed one into the first layer's bias).

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
        if c.styles:
            self.style = nn.Embedding(len(c.styles), c.style_embed)
        # nn.LSTM applies dropout to the outputs of every layer but the last
        self.rnn = _RNN[c.cell](c.input_size, c.hidden, c.layers, batch_first=True,
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

    def forward(self, idx: torch.Tensor, state: State | None = None,
                style: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """idx[B, T] int64 -> logits[B, T, V] and the state after the last step. A styled model reads
        `style`: int64 ids[B, T] (a style per character, as training has them) or float weights[S]
        (one blend for every character); without it, an even blend of all styles."""
        if state is None:
            state = self.init_state(idx.shape[0], idx.device, self.embed.weight.dtype)
        x = self.embed(idx)  # B, T, E
        if self.config.styles:
            # the vector in the embedding's dtype: under autocast a blend's product comes out in half precision
            x = torch.cat([x, self.style_vectors(style, idx.shape).to(x.dtype)], dim=-1)  # B, T, E + D
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

    def style_vectors(self, style: torch.Tensor | None, shape: torch.Size) -> torch.Tensor:
        """The style vector beside each character: [B, T, D]."""
        table = self.style.weight
        if style is None:
            style = torch.full((table.shape[0],), 1.0 / table.shape[0], device=table.device)
        if style.is_floating_point():
            return (style.to(table.dtype) @ table).expand(*shape, -1)
        return self.style(style)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def in_style(model: CharLSTM, style: str | None = None) -> CharLSTM:
    """`model` as an unstyled model sampling in `style` (a name or a blend 'a:0.7,b:0.3'; None: every
    style alike), with the blend folded into its weights (styles.fold), on the same device and in the
    same mode; an unstyled model is returned as it is (and refuses a `style`)."""
    from .styles.blend import choose, fold
    names = model.config.styles
    if not names and style is None:
        return model
    blend = choose(style, names)
    weights, config = fold({k: v.detach() for k, v in model.state_dict().items()}, model.config, blend)
    plain = CharLSTM(config).to(model.head.weight.device, model.head.weight.dtype)
    plain.load_state_dict(weights)
    return plain.train(model.training)


def detach_state(state: State) -> State:
    """Cut the graph at a window boundary: memory flows on, gradients stop (truncated BPTT)."""
    return tuple(s.detach() for s in state)


# ---- one step of each cell, the one torch definition --------------------------------------------------
# nn.LSTM, nn.GRU and nn.RNN run whole windows in their own kernels (training, evaluation, the plain
# sampling engine). Every step charlstm computes itself (the fast sampling engines, `gates` and `inspect`,
# the playground's hover) goes through these functions. Pre-activations are [..., G*H] in PyTorch's
# gate order: the input term W_ih x + b_ih, the hidden term W_hh h + b_hh. Where only their sum matters
# (LSTM, RNN) the caller passes the sum as `pre`, computed however it likes (a fused product, fp16
# weights). tests/test_known_answers.py holds them, and every other runtime, to one worked example.

def lstm_gates(pre: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(input, forget, candidate, output) gates from pre[..., 4H]: sigmoid, sigmoid, tanh, sigmoid."""
    H = pre.shape[-1] // 4
    s = pre.sigmoid()
    return s[..., :H], s[..., H:2 * H], pre[..., 2 * H:3 * H].tanh(), s[..., 3 * H:]


def lstm_step(pre: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """(h', c', gates): c' = f * c + i * g (the long memory), h' = o * tanh(c')."""
    i, f, g, o = gates = lstm_gates(pre)
    c = torch.addcmul(f * c, i, g)
    return o * c.tanh(), c, gates


def gru_gates(x_term: torch.Tensor, h_term: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(reset, update, new) from the input and hidden terms [..., 3H]: r and z read their sum, and the
    new state reads r * (W_hn h + b_hn), so the two terms stay apart."""
    H = x_term.shape[-1] // 3
    rz = (x_term[..., :2 * H] + h_term[..., :2 * H]).sigmoid()
    r, z = rz[..., :H], rz[..., H:]
    return r, z, torch.addcmul(x_term[..., 2 * H:], r, h_term[..., 2 * H:]).tanh()


def gru_step(x_term: torch.Tensor, h_term: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """(h', gates): h' = (1 - z) * n + z * h."""
    r, z, n = gates = gru_gates(x_term, h_term)
    return torch.lerp(n, h, z), gates


def rnn_step(pre: torch.Tensor) -> torch.Tensor:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""
    return pre.tanh()
