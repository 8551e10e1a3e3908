"""Gradient flow: per-layer gradient norms and the warnings they justify.

Plain RNNs multiply the gradient by the recurrent Jacobian once per time step, so it shrinks
(vanishes) or grows (explodes) geometrically with distance; the LSTM's additive cell-state path
and gradient-norm clipping are the two remedies (Pascanu, Mikolov and Bengio 2013, "On the
difficulty of training recurrent neural networks"). `GradientMonitor` watches the norms a
training run produces and says when either failure shows. Knows nothing of the terminal.
"""

from __future__ import annotations

from collections import deque

import torch

from ..config import GATES
from ..model import CharLSTM

EXPLODING_SHARE = 0.5  # clipped on more than half of the recent steps
VANISHING_RATIO = 1e-3  # first recurrent layer's norm below this share of the last one's
WINDOW = 100  # steps looked back
REPEAT = 2000  # steps before the same warning is given again


def layer_groups(model: CharLSTM) -> dict[str, list[torch.nn.Parameter]]:
    """Parameters grouped as embed (with a styled model's style vectors: what the first layer reads),
    layer0 .. layer{L-1}, head."""
    inputs = [*model.embed.parameters(), *(model.style.parameters() if model.config.styles else ())]
    groups: dict[str, list[torch.nn.Parameter]] = {"embed": inputs}
    for l in range(model.config.layers):
        groups[f"layer{l}"] = [p for n, p in model.rnn.named_parameters() if n.endswith(f"_l{l}")]
    groups["head"] = list(model.head.parameters())
    return groups


@torch.no_grad()
def layer_norms(groups: dict[str, list[torch.nn.Parameter]]) -> dict[str, float]:
    out = {}
    for name, params in groups.items():
        grads = [p.grad for p in params if p.grad is not None]
        out[name] = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))) \
            if grads else 0.0
    return out


class GradientMonitor:
    def __init__(self, layers: int, clip: float, cell: str):
        self.layers, self.clip, self.cell = layers, clip, cell
        self.clipped: deque[bool] = deque(maxlen=WINDOW)
        self.ratios: deque[float] = deque(maxlen=max(1, WINDOW // 10))
        self.last_warned: dict[str, int] = {}

    @property
    def clipped_fraction(self) -> float:
        return sum(self.clipped) / len(self.clipped) if self.clipped else 0.0

    def observe(self, step: int, total_norm: float, norms: dict[str, float] | None = None) -> list[tuple[str, str]]:
        """Record one step; returns (kind, message) warnings that are due."""
        self.clipped.append(total_norm > self.clip)
        if norms and self.layers > 1 and norms.get(f"layer{self.layers - 1}", 0) > 0:
            self.ratios.append(norms["layer0"] / norms[f"layer{self.layers - 1}"])
        out = []
        if len(self.clipped) == WINDOW and self.clipped_fraction > EXPLODING_SHARE:
            out.append(("exploding", f"gradients are exploding: the norm exceeded --clip {self.clip:g} on "
                        f"{self.clipped_fraction:.0%} of the last {WINDOW} steps. Clipping keeps the updates bounded, "
                        "but a lower --lr usually trains better"))
        if len(self.ratios) == self.ratios.maxlen and max(self.ratios) < VANISHING_RATIO:
            fix = "try --cell lstm or gru" if not GATES[self.cell] else "try fewer --layers or a higher --lr"
            out.append(("vanishing", f"gradients are vanishing: layer 0 receives under {VANISHING_RATIO:g} of the "
                        f"gradient norm of layer {self.layers - 1} ({max(self.ratios):.1e} at most recently); {fix}"))
        due = [(k, m) for k, m in out if step - self.last_warned.get(k, -REPEAT) >= REPEAT]
        for k, _ in due:
            self.last_warned[k] = step
        return due
