"""What the browser playground shows about each character: `charlstm sample`'s text, one block at a
time, with the model's probability for every character, its five likeliest alternatives, and one
watched unit's activation and gate values at that step.

Generation reads the same random stream as `generate.generate` (one generator, seeded the same way,
uniforms drawn a block at a time, `generate.run_block` picking each character) and steps with the
same engine (numpy on the CPU, FastEngine elsewhere); the extras are read from the engine's state
after each step and computed a block at a time, so they never touch the random stream and the
text equals `charlstm sample`'s.
`inspect` runs any text through the same stepping (teacher-forced) and reports the same extras.
The gate equations are those of insight/gates.py, recomputed here for one unit only: `gates.trace`
keeps every unit of every gate, ~250 MB for 10,000 characters of a 2 x 512 LSTM. Pure torch: knows
nothing of the web server or the terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from ..devices import exact_math
from ..errors import ConfigError
from ..insight.gates import GATES
from ..model import CharLSTM, State, gru_gates, lstm_gates
from ..sampling.engines import FastEngine, NumpyStep
from ..sampling.generate import BLOCK, SampleConfig, make_generator, run_block
from ..tokenizer import CharTokenizer

TOP = 5  # alternatives reported per character


@dataclass(frozen=True)
class Probe:
    """The unit to watch: `state` "c" shows tanh(c_t) (LSTM only; other cells show h), "h" shows h_t."""
    layer: int = 0
    unit: int = 0
    state: str = "c"

    def check(self, model: CharLSTM) -> Probe:
        """The probe made to fit the model (h for cells without c), or a ConfigError naming the range."""
        c = model.config
        if self.state not in ("c", "h"):
            raise ConfigError(f"state must be 'c' or 'h', not {self.state!r}")
        if not 0 <= self.layer < c.layers:
            raise ConfigError(f"layer {self.layer}: the model has layers 0..{c.layers - 1}")
        if not 0 <= self.unit < c.hidden:
            raise ConfigError(f"unit {self.unit}: a layer has units 0..{c.hidden - 1}")
        return self if c.cell == "lstm" or self.state == "h" else Probe(self.layer, self.unit, "h")


@dataclass(frozen=True)
class Char:
    """One character and what the model made of it. `p` is the model's own probability for it
    (temperature 1, no filtering; None for the first character of an inspected text, which nothing
    predicted), `top` the five likeliest characters at that position, `act` the watched unit after
    reading it and `gates` that unit's gates at that step, in gates.GATES order."""
    ch: str
    p: float | None
    top: list[tuple[str, float]]
    act: float
    gates: list[float]


def gate_names(model: CharLSTM) -> tuple[str, ...]:
    return GATES[model.config.cell]


class Watcher:
    """The step of `charlstm sample`'s default engine (the numpy engine on the CPU, FastEngine
    elsewhere) that also keeps, for each step, the distribution the character was drawn from and
    the watched layer's state; `take` turns the kept steps into `Char`s."""

    def __init__(self, model: CharLSTM, state: State, logits: torch.Tensor, probe: Probe):
        engine = NumpyStep if logits.device.type == "cpu" else FastEngine
        self.model, self.probe, self.engine = model, probe, engine(model, state)
        self.logits = logits  # [1, V]: what the next character is drawn from
        l = probe.layer
        self.h_prev = self.engine.h[l].clone()  # [1, H]: the state before the first kept step
        self.c_prev = self.engine.c[l].clone() if self.engine.c is not None else None
        self.dists: list[torch.Tensor] = []
        self.inputs: list[torch.Tensor] = []  # layer l's input per step (layers above 0)
        self.hs: list[torch.Tensor] = []
        self.cs: list[torch.Tensor] = []

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        """ids[1] -> logits[1, V], as FastEngine; the extras are only copied here, computed in `take`."""
        st, l = self.engine, self.probe.layer
        self.dists.append(self.logits)
        self.logits = st(ids)  # a fresh tensor each step
        if l > 0:
            self.inputs.append(st.h[l - 1].clone())
        self.hs.append(st.h[l].clone())
        if st.c is not None:
            self.cs.append(st.c[l].clone())
        return self.logits

    def take(self, ids: list[int], chars: list[str]) -> list[Char]:
        """The kept steps as Chars for the characters `ids` (the first len(ids) steps; a last block
        may have stepped further), then forget them: the next step continues from the last one."""
        n = len(ids)
        if n == 0:
            return []
        h, c = torch.cat(self.hs[:n]), torch.cat(self.cs[:n]) if self.cs else None  # n, H
        h_prev = torch.cat([self.h_prev, h[:-1]])
        x = torch.cat(self.inputs[:n]) if self.inputs else None
        gates = unit_gates(self.model, self.probe, ids, x, h_prev)
        u = self.probe.unit
        act = c[:, u].tanh() if self.probe.state == "c" and c is not None else h[:, u]
        probs = torch.cat(self.dists[:n]).float().softmax(-1)  # n, V
        p = probs[torch.arange(n), torch.tensor(ids)]
        top_p, top_i = probs.topk(min(TOP, probs.shape[-1]), -1)
        self.h_prev = self.hs[-1]
        self.c_prev = self.cs[-1] if self.cs else None
        self.dists, self.inputs, self.hs, self.cs = [], [], [], []
        rows = zip(p.tolist(), top_p.tolist(), top_i.tolist(), act.tolist(), gates.tolist())
        return [Char(chars[i], pi, [(chars[j], q) for q, j in zip(tp, ti)], a, g)
                for i, (pi, tp, ti, a, g) in zip(ids, rows)]


def unit_gates(model: CharLSTM, probe: Probe, ids: list[int], x: torch.Tensor | None,
               h_prev: torch.Tensor) -> torch.Tensor:
    """Gates [n, G] of one unit over n steps, from the trained weights (model.py's cell step,
    gate order as nn.LSTM / nn.GRU): x[n, in] is the layer's input (None for layer 0: the embedding
    of `ids`), h_prev[n, H] the layer's state before each step. A plain RNN has no gates: [n, 0]."""
    cell, H, l, u = model.config.cell, model.config.hidden, probe.layer, probe.unit
    G = len(GATES[cell])
    if G == 0:
        return h_prev.new_zeros(len(ids), 0)
    rnn = model.rnn
    rows = torch.arange(G, device=h_prev.device) * H + u
    w = {n: getattr(rnn, f"{n}_l{l}").detach()[rows] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    if x is None:
        x = model.embed.weight.detach()[torch.tensor(ids, device=h_prev.device)]
    px = x.float() @ w["weight_ih"].float().t() + w["bias_ih"]  # n, G
    ph = h_prev.float() @ w["weight_hh"].float().t() + w["bias_hh"]
    # the unit's own slice of each gate: the cell's step with H = 1
    return torch.cat(lstm_gates(px + ph) if cell == "lstm" else gru_gates(px, ph), 1)


class Session:
    """One generation, set up as `sample.generate` sets up one sample: the same generator and seed,
    the prime fed at once (or a line break, or a random character when the corpus had none).
    `context` is the text fed before the first generated character, so `inspect(context + text)`
    retraces the same states."""

    @torch.inference_mode()
    def __init__(self, model: CharLSTM, tokenizer: CharTokenizer, cfg: SampleConfig, prime: str = "",
                 skip_unknown: bool = False, probe: Probe = Probe()):
        if cfg.num_samples != 1:
            raise ConfigError("the playground generates one sample at a time")
        self.model, self.tok, self.cfg, self.probe = model, tokenizer, cfg, probe.check(model)
        self.device = model.head.weight.device
        self.g = make_generator(cfg.seed, self.device)
        ids = tokenizer.encode(prime, skip_unknown=skip_unknown) if prime else []
        if not ids:
            start = tokenizer.stoi.get("\n")
            if start is None:
                start = int(torch.randint(tokenizer.vocab_size, (1,), generator=self.g, device=self.device))
            ids = [start]
        self.context = tokenizer.decode(ids)
        with exact_math():
            logits, state = model(torch.tensor([ids], dtype=torch.long, device=self.device), None)
        self.watcher = Watcher(model, state, logits[:, -1], self.probe)
        self.generated = 0

    def blocks(self, stop: Callable[[], bool] = lambda: False) -> Iterator[list[Char]]:
        """The generated characters, a block (BLOCK characters, fewer at the end) at a time; `stop`
        is asked before each block, so a stop costs at most one block of work."""
        out = torch.zeros(BLOCK, 1, dtype=torch.long, device=self.device)
        for start in range(0, self.cfg.length, BLOCK):
            if stop():
                return
            with torch.inference_mode(), exact_math():
                us = torch.rand(BLOCK, 1, 1, generator=self.g, device=self.device)
                w = self.watcher
                w.logits = run_block(w, w.logits, self.cfg, us, out)
                got = w.take(out[:self.cfg.length - start, 0].tolist(), self.tok.chars)
            self.generated += len(got)
            yield got


@torch.inference_mode()
def inspect(model: CharLSTM, tokenizer: CharTokenizer, text: str, probe: Probe = Probe(),
            stop: Callable[[], bool] = lambda: False) -> Iterator[list[Char]]:
    """Run `text` (unknown characters skipped) through the model from a zero state, as
    `charlstm inspect` does, a block at a time: the same extras as generation, with each
    character's probability being the one the model gave it after reading the text before it."""
    probe = probe.check(model)
    ids = tokenizer.encode(text, skip_unknown=True)
    device = model.head.weight.device
    # the first character has no prediction: a uniform stand-in, reported as p None
    w = Watcher(model, model.init_state(1, device), torch.zeros(1, model.config.vocab_size, device=device), probe)
    x = torch.tensor(ids, dtype=torch.long, device=device)
    for start in range(0, len(ids), BLOCK):
        if stop():
            return
        with exact_math():
            for k in range(start, min(start + BLOCK, len(ids))):
                w(x[k:k + 1])
        got = w.take(ids[start:start + BLOCK], tokenizer.chars)
        if start == 0:
            got[0] = Char(got[0].ch, None, [], got[0].act, got[0].gates)
        yield got
