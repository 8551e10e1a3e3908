"""Text generation from a trained model: prime, then one character at a time.

Randomness comes only from an explicit `torch.Generator`, so the same seed gives the same text
and sampling never disturbs a training run's random state. Temperature 0 means argmax (and then
the seed does not matter). Each step uses exactly one uniform number per sample, drawn ahead a
block at a time, and inverts the cumulative distribution, so the plain, fast and graph engines
give the same text for the same seed. The fp16 engine (weights rounded to half precision, for speed
on CPUs whose cache cannot hold the fp32 weights) is reproducible per seed too, but its numbers
differ slightly from fp32, so its text for a seed is its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

from ..adapt.dynamic import CONTEXT, adapted
from ..config import SampleConfig  # noqa: F401  (re-exported: the API's home of it)
from ..data.textfiles import known_ids
from ..devices import exact_math
from ..errors import ConfigError
from ..model import CharLSTM, in_style
from ..tokenizer import CharTokenizer
from .engines import FastEngine, HalfWeightEngine, NumpyStep, PlainEngine, half_weights_available
from .numpy_engine import BLOCK

ENGINES = ("auto", "numpy", "fast", "graph", "plain", "fp16")


def probabilities(logits: torch.Tensor, temperature: float, top_k: int | None = None,
                  top_p: float | None = None, min_p: float | None = None) -> torch.Tensor:
    """logits[B, V] -> probabilities[B, V] after temperature, top-k, min-p and nucleus (top-p) filtering."""
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if min_p:  # min-p (Nguyen et al. 2024): only ids at least min_p times as likely as the likeliest
        floor = logits.max(-1, keepdim=True).values + math.log(min_p)
        logits = logits.masked_fill(logits < floor, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_p, order = torch.sort(probs, dim=-1, descending=True)
        # drop a token when the tokens ranked above it already hold top_p of the mass
        drop = (sorted_p.cumsum(-1) - sorted_p) >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def pick(logits: torch.Tensor, cfg: SampleConfig, u: torch.Tensor) -> torch.Tensor:
    """Next ids[B]: argmax at temperature 0, else the inverse CDF at the uniform draws u[B, 1]."""
    if cfg.temperature == 0:
        return logits.argmax(-1)
    probs = probabilities(logits, cfg.temperature, cfg.top_k, cfg.top_p, cfg.min_p)
    cdf = probs.cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=probs.shape[-1] - 1)[:, 0]


def run_block(step: Callable[[torch.Tensor], torch.Tensor], logits: torch.Tensor, cfg: SampleConfig,
              us: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """BLOCK steps of generation: pick from `logits` with us[k], write the ids to out[k], step the
    model. Returns the logits after the last id. The same code runs eagerly and inside a CUDA graph."""
    for k in range(us.shape[0]):
        nxt = pick(logits, cfg, us[k])
        out[k].copy_(nxt)
        logits = step(nxt)
    return logits


class GraphBlock:
    """A whole block of `run_block` captured once as a CUDA graph and replayed: ~25 small kernels a
    character cost one launch per BLOCK characters instead of one each (eager sampling on a GPU is
    bound by kernel launches, not arithmetic). Inputs and outputs live in fixed tensors."""

    def __init__(self, eng: FastEngine, logits: torch.Tensor, cfg: SampleConfig):
        B, dev = logits.shape[0], logits.device
        self.eng, self.logits = eng, logits.clone()
        self.us = torch.zeros(BLOCK, B, 1, device=dev)
        self.out = torch.zeros(BLOCK, B, dtype=torch.long, device=dev)
        saved = [t.clone() for t in self._state()]
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):  # warm-up runs (library set-up) outside the graph
            for _ in range(2):
                run_block(eng, self.logits, cfg, self.us, self.out)
        torch.cuda.current_stream(dev).wait_stream(side)
        for t, v in zip(self._state(), saved):
            t.copy_(v)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits.copy_(run_block(eng, self.logits, cfg, self.us, self.out))

    def _state(self) -> list[torch.Tensor]:
        return self.eng.h + (self.eng.c or [])

    def __call__(self, us: torch.Tensor) -> torch.Tensor:
        self.us.copy_(us)
        self.graph.replay()
        return self.out


def _eager_block(step, logits: torch.Tensor, cfg: SampleConfig) -> Callable[[torch.Tensor], torch.Tensor]:
    state = {"logits": logits}
    out = torch.zeros(BLOCK, logits.shape[0], dtype=torch.long, device=logits.device)

    def block(us: torch.Tensor) -> torch.Tensor:
        state["logits"] = run_block(step, state["logits"], cfg, us, out)
        return out
    return block


def graph_capable(device: torch.device) -> bool:
    return device.type == "cuda"


def block_runner(model: CharLSTM, state, logits: torch.Tensor, cfg: SampleConfig, engine: str = "auto",
                 notes: list[str] | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """us[BLOCK, B, 1] -> ids[BLOCK, B]. engine: plain (the model's own forward, the oracle), fast
    (lean eager steps), numpy (the fast steps in numpy; CPU only), graph (fast steps replayed as a
    CUDA graph; CUDA only), fp16 (fast steps reading fp16 weights; x86 CPU only) or auto (graph on
    CUDA, numpy on the CPU, fast elsewhere). If graph capture fails, it falls back to fast and says
    so in `notes`."""
    if engine not in ENGINES:
        raise ConfigError(f"sampling engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    cpu = logits.device.type == "cpu"
    if engine == "numpy" or (engine == "auto" and cpu and not graph_capable(logits.device)):
        if not cpu:
            raise ConfigError(f"the numpy engine runs on the CPU, not {logits.device.type}; use --engine auto there")
        return _eager_block(NumpyStep(model, state), logits, cfg)
    if engine == "plain":
        return _eager_block(PlainEngine(model, state), logits, cfg)
    if engine == "fp16":
        eng = _half_engine(model, state, logits.device)
        if notes is not None:
            notes.append("fp16 engine: weights rounded to half precision, so this seed's text differs from "
                         "--engine fast")
        return _eager_block(eng, logits, cfg)
    eng = FastEngine(model, state)
    if engine == "graph" or (engine == "auto" and graph_capable(logits.device)):
        if not graph_capable(logits.device):
            raise ConfigError("the graph engine needs a CUDA device")
        try:
            return GraphBlock(eng, logits, cfg)
        except Exception as e:  # capture is refused on some drivers and builds: the eager engine still works
            if notes is not None:
                notes.append(f"CUDA graph capture failed ({type(e).__name__}: {e}); sampling eagerly")
            eng = FastEngine(model, state)
    return _eager_block(eng, logits, cfg)


def _half_engine(model: CharLSTM, state, device: torch.device) -> HalfWeightEngine:
    if device.type != "cpu":
        raise ConfigError(f"the fp16 engine runs on the CPU, not {device.type}; use --engine auto there")
    if not half_weights_available():
        raise ConfigError("the fp16 engine needs torch's fbgemm backend (x86 CPU builds), which this torch "
                          "lacks; use --engine fast")
    return HalfWeightEngine(model, state)


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g


def generate(model: CharLSTM, tokenizer: CharTokenizer, cfg: SampleConfig, prime: str = "",
             skip_unknown: bool = False, engine: str = "auto", notes: list[str] | None = None,
             adapt: str | None = None) -> Iterator[list[str]]:
    """Yield, for each new position, one character per sample (lists of length num_samples).
    The prime is fed first and not yielded. With no prime, generation starts after a line break
    (or, if the corpus had none, after a random character). `engine` picks the stepping code
    (see `block_runner`); every engine but fp16 gives the same text for the same seed.
    numpy_engine.generate does the same from numpy weights, without torch.
    With `adapt` (a text), the model first reads it with dynamic evaluation's updates (adapt/dynamic.py,
    characters it never saw left out; AdaptConfig's defaults: for others, read the text in
    adapt.dynamic.adapted yourself) and the prime continues from the text's end; the model's own
    weights are put back when the generator ends or is closed. A styled model writes in the even blend
    of its styles; pass `model.in_style(model, "verse")` for one (generate_text takes `style`)."""
    model = in_style(model)
    if not adapt:
        yield from _generate(model, tokenizer, cfg, prime, skip_unknown, engine, notes)
        return
    ids, _ = known_ids(adapt, tokenizer)
    with adapted(model) as adapter:
        if len(ids) >= 2:
            adapter.read(ids)
        context = tokenizer.decode(ids[-CONTEXT:])
        yield from _generate(model, tokenizer, cfg, context + prime, skip_unknown, engine, notes)


@torch.inference_mode()
def _generate(model: CharLSTM, tokenizer: CharTokenizer, cfg: SampleConfig, prime: str, skip_unknown: bool,
              engine: str, notes: list[str] | None) -> Iterator[list[str]]:
    was_training = model.training
    model.eval()
    try:
        with exact_math():
            device = model.head.weight.device
            g = make_generator(cfg.seed, device)
            B = cfg.num_samples
            ids = tokenizer.encode(prime, skip_unknown=skip_unknown) if prime else []
            if not ids:
                start = tokenizer.stoi.get("\n")
                if start is None:
                    start = int(torch.randint(tokenizer.vocab_size, (1,), generator=g, device=device))
                ids = [start]
            x = torch.tensor([ids] * B, dtype=torch.long, device=device)  # B, P
            logits, state = model(x, None)
            chars = tokenizer.chars
            block = None
            for start in range(0, cfg.length, BLOCK):
                # the uniforms are drawn a block at a time on every engine, so all engines read the same ones
                us = torch.rand(BLOCK, B, 1, generator=g, device=device)
                block = block or block_runner(model, state, logits[:, -1], cfg, engine, notes)
                for row in block(us).tolist()[:cfg.length - start]:
                    yield [chars[j] for j in row]
    finally:
        model.train(was_training)


def generate_text(model: CharLSTM, tokenizer: CharTokenizer, cfg: SampleConfig, prime: str = "",
                  skip_unknown: bool = False, engine: str = "auto", adapt: str | None = None,
                  style: str | None = None) -> list[str]:
    """The whole samples as strings (the prime not included); `adapt` as in `generate`. A styled model
    writes in `style`: a style's name or a blend 'a:0.7,b:0.3' (None: every style alike)."""
    out = [[] for _ in range(cfg.num_samples)]
    for step in generate(in_style(model, style), tokenizer, cfg, prime, skip_unknown, engine, adapt=adapt):
        for buf, ch in zip(out, step):
            buf.append(ch)
    return ["".join(b) for b in out]
