"""One-character-at-a-time inference for sampling: the engines behind `--engine`.

`PlainEngine` calls the model's own forward on [B, 1] inputs: the oracle. `FastEngine` does the
same arithmetic straight from the trained weights with a handful of tensor ops per layer, skipping
nn.LSTM's per-call setup, which dominates a batch-1 step (bench/RESULTS.md, "Sampling"). Its state
sits in fixed tensors updated in place, so on a GPU a block of steps can be captured once as a CUDA
graph and replayed (the `graph` engine, see generate.py). The first layer's embedding lookup and
input projection fold into one table: row v of
Embed @ W_ih^T + b_ih + b_hh is the layer-0 input term for character v.

`HalfWeightEngine` (`--engine fp16`) is the fast engine with its weight products read from fp16 copies packed for
fbgemm (x86 CPUs): a step reads every weight once, so half the bytes is up to half the time where
the fp32 weights do not fit the CPU's cache (bench/RESULTS.md). Activations, state and sums stay
fp32; only the weights are rounded, so its text for a seed differs from the other engines' while its
validation loss stays close to theirs (bench/RESULTS.md; the tests hold it within 0.002 nats).

The cell equations themselves are model.py's (`lstm_step`, `gru_step`, `rnn_step`): the engines here
only compute the matrix products that feed them.
"""

from __future__ import annotations

import torch

from ..model import CharLSTM, State, gru_step, lstm_step, rnn_step
from .numpy_engine import NumpyEngine


class PlainEngine:
    def __init__(self, model: CharLSTM, state: State):
        self.model, self.state = model, state

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        """ids[B] -> logits[B, V]; advances the state."""
        logits, self.state = self.model(ids[:, None], self.state)
        return logits[:, -1]


class FastEngine:
    def __init__(self, model: CharLSTM, state: State):
        c = model.config
        self.cell, self.H, self.L = c.cell, c.hidden, c.layers
        rnn = model.rnn
        with torch.no_grad():
            w = lambda name, l: getattr(rnn, f"{name}_l{l}").detach()  # noqa: E731
            # layer 0: [V, G*H] table of embedding @ W_ih^T plus both biases (GRU keeps b_hn apart)
            b0 = w("bias_ih", 0) + (w("bias_hh", 0) if c.cell != "gru" else self._gru_rz(w("bias_hh", 0)))
            self.table = torch.addmm(b0, model.embed.weight.detach(), w("weight_ih", 0).t())
            self.w_ih = [None] + [w("weight_ih", l).t().contiguous() for l in range(1, c.layers)]
            self.b = [None] + [w("bias_ih", l) + (w("bias_hh", l) if c.cell != "gru" else self._gru_rz(w("bias_hh", l)))
                               for l in range(1, c.layers)]
            self.w_hh = [w("weight_hh", l).t().contiguous() for l in range(c.layers)]
            self.b_hn = [w("bias_hh", l)[2 * c.hidden:] for l in range(c.layers)] if c.cell == "gru" else None
            self.w_out = model.head.weight.detach().t().contiguous()
            self.b_out = model.head.bias.detach()
            self._pack(model)
        # state lives in fixed tensors updated in place, so a captured CUDA graph can replay the step
        self.h = [t.clone() for t in state[0].unbind(0)]
        self.c = [t.clone() for t in state[1].unbind(0)] if c.cell == "lstm" else None

    def _gru_rz(self, b_hh: torch.Tensor) -> torch.Tensor:
        """GRU's b_hn sits inside r * (W_hn h + b_hn), so only the r and z parts fold into the input term."""
        out = b_hh.clone()
        out[2 * self.H:] = 0
        return out

    def _pack(self, model: CharLSTM) -> None:
        """Hook for engines that keep the weights in another form."""

    def input_term(self, l: int, x: torch.Tensor) -> torch.Tensor:
        """x @ W_ih^T plus the folded biases, for layers above the first; B, G*H (a new tensor)."""
        return torch.addmm(self.b[l], x, self.w_ih[l])

    def add_recurrent(self, l: int, pre: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """pre += h @ W_hh^T, in place."""
        return pre.addmm_(h, self.w_hh[l])

    def recurrent(self, l: int, h: torch.Tensor) -> torch.Tensor:
        return h @ self.w_hh[l]

    def output(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.b_out, x, self.w_out)

    @property
    def state(self) -> State:
        h = torch.stack(self.h)
        return (h, torch.stack(self.c)) if self.c is not None else (h,)

    @torch.no_grad()
    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        H = self.H
        x = None
        for l in range(self.L):
            pre = self.table[ids] if l == 0 else self.input_term(l, x)  # B, G*H
            h = self.h[l]
            if self.cell == "lstm":
                h, c, _ = lstm_step(self.add_recurrent(l, pre, h), self.c[l])
                self.c[l].copy_(c)
            elif self.cell == "gru":
                hh = self.recurrent(l, h)  # B, 3H: W_hh h; r and z's b_hh are in `pre`, b_hn joins here
                hh[:, 2 * H:] += self.b_hn[l]
                h, _ = gru_step(pre, hh, h)
            else:
                h = rnn_step(self.add_recurrent(l, pre, h))
            self.h[l].copy_(h)
            x = h
        return self.output(x)


class NumpyStep:
    """numpy_engine.NumpyEngine behind this module's interface (ids and logits as CPU tensors), for
    `generate(engine="numpy")` on a torch model, the playground and stepwise_loss. Its per-layer
    state `h` and `c` are tensors sharing the numpy engine's memory, as FastEngine's are its own."""

    def __init__(self, model: CharLSTM, state: State):
        weights = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
        self.engine = NumpyEngine(weights, model.config, state[0].shape[1])
        self.engine.h[:] = state[0].float().cpu().numpy()
        self.h = list(torch.from_numpy(self.engine.h).unbind(0))
        self.c = None
        if self.engine.c is not None:
            self.engine.c[:] = state[1].float().cpu().numpy()
            self.c = list(torch.from_numpy(self.engine.c).unbind(0))

    @property
    def state(self) -> State:
        h = torch.stack(self.h)
        return (h, torch.stack(self.c)) if self.c is not None else (h,)

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.engine(ids.cpu().numpy()))


def half_weights_available() -> bool:
    """Whether this torch has fbgemm's fp16-weight products (x86 CPU builds)."""
    return "fbgemm" in torch.backends.quantized.supported_engines and hasattr(torch.ops.quantized,
                                                                              "linear_prepack_fp16")


class HalfWeightEngine(FastEngine):
    """FastEngine whose products read fp16 weights packed by fbgemm; CPU only."""

    def _pack(self, model: CharLSTM) -> None:
        pack, rnn = torch.ops.quantized.linear_prepack_fp16, model.rnn
        w = lambda name, l: getattr(rnn, f"{name}_l{l}").detach().float().contiguous()  # noqa: E731
        self.p_ih = [None] + [pack(w("weight_ih", l), self.b[l].float().contiguous()) for l in range(1, self.L)]
        self.p_hh = [pack(w("weight_hh", l), None) for l in range(self.L)]
        self.p_out = pack(model.head.weight.detach().float().contiguous(), self.b_out.float().contiguous())
        self.w_ih = self.w_hh = self.w_out = None  # the fp32 copies are never read: let them go

    def input_term(self, l: int, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic_fp16(x, self.p_ih[l])

    def add_recurrent(self, l: int, pre: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return pre.add_(torch.ops.quantized.linear_dynamic_fp16(h, self.p_hh[l]))

    def recurrent(self, l: int, h: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic_fp16(h, self.p_hh[l])

    def output(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic_fp16(x, self.p_out)


@torch.no_grad()
def stepwise_loss(engine_class: type[FastEngine] | type[PlainEngine] | type[NumpyStep], model: CharLSTM,
                  ids: torch.Tensor, lanes: int = 64) -> float:
    """Mean nats/char of predicting ids[1:] from ids[:-1] one step at a time through `engine_class`,
    over `lanes` contiguous lanes with the state carried (a remainder shorter than a lane is left
    out). This is what a sampling engine's own arithmetic scores, to compare engines on real text."""
    T = (len(ids) - 1) // lanes
    if T < 1:
        raise ValueError(f"{len(ids)} ids are too few for {lanes} lanes")
    grid = ids[:lanes * T + 1]
    x = torch.stack([grid[i * T:(i + 1) * T] for i in range(lanes)]).to(model.head.weight.device)
    y = torch.stack([grid[i * T + 1:(i + 1) * T + 1] for i in range(lanes)]).to(x.device)
    step = engine_class(model, model.init_state(lanes, x.device))
    total = 0.0
    for t in range(T):
        total += torch.nn.functional.cross_entropy(step(x[:, t]).float(), y[:, t], reduction="sum").item()
    return total / (lanes * T)
