"""Text generation from a trained model: prime, then one character at a time.

Randomness comes only from an explicit `torch.Generator`, so the same seed gives the same text
and sampling never disturbs a training run's random state. Temperature 0 means argmax (and then
the seed does not matter). Each step draws exactly one uniform number per sample and inverts the
cumulative distribution, so the fast and plain steppers give the same text for the same seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .errors import ConfigError
from .model import CharLSTM
from .stepper import FastStepper, PlainStepper
from .tokenizer import CharTokenizer


@dataclass(frozen=True)
class SampleConfig:
    length: int = 500
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    num_samples: int = 1

    def __post_init__(self) -> None:
        if self.length < 0:
            raise ConfigError(f"--length must be >= 0, got {self.length}")
        if self.temperature < 0:
            raise ConfigError(f"--temp must be >= 0 (0 picks the most likely character), got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"--top-k must be at least 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ConfigError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.num_samples < 1:
            raise ConfigError(f"--num-samples must be at least 1, got {self.num_samples}")


def probabilities(logits: torch.Tensor, temperature: float, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """logits[B, V] -> probabilities[B, V] after temperature, top-k and nucleus (top-p) filtering."""
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_p, order = torch.sort(probs, dim=-1, descending=True)
        # drop a token when the tokens ranked above it already hold top_p of the mass
        drop = (sorted_p.cumsum(-1) - sorted_p) >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def pick(logits: torch.Tensor, cfg: SampleConfig, generator: torch.Generator) -> torch.Tensor:
    """Next ids[B]: argmax at temperature 0, else one uniform draw per row through the CDF."""
    if cfg.temperature == 0:
        return logits.argmax(-1)
    probs = probabilities(logits, cfg.temperature, cfg.top_k, cfg.top_p)
    cdf = probs.cumsum(-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).clamp_(max=probs.shape[-1] - 1)[:, 0]


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g


@torch.inference_mode()
def generate(model: CharLSTM, tokenizer: CharTokenizer, cfg: SampleConfig, prime: str = "",
             skip_unknown: bool = False, fast: bool = True) -> Iterator[list[str]]:
    """Yield, for each new position, one character per sample (lists of length num_samples).
    The prime is fed first and not yielded. With no prime, generation starts after a line break
    (or, if the corpus had none, after a random character)."""
    was_training = model.training
    model.eval()
    try:
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
        logits = logits[:, -1]
        stepper = (FastStepper if fast else PlainStepper)(model, state)
        chars = tokenizer.chars
        for i in range(cfg.length):
            nxt = pick(logits, cfg, g)
            yield [chars[j] for j in nxt.tolist()]
            if i + 1 < cfg.length:
                logits = stepper(nxt)
    finally:
        model.train(was_training)


def generate_text(model: CharLSTM, tokenizer: CharTokenizer, cfg: SampleConfig, prime: str = "",
                  skip_unknown: bool = False, fast: bool = True) -> list[str]:
    """The whole samples as strings (the prime not included)."""
    out = [[] for _ in range(cfg.num_samples)]
    for step in generate(model, tokenizer, cfg, prime, skip_unknown, fast):
        for buf, ch in zip(out, step):
            buf.append(ch)
    return ["".join(b) for b in out]
