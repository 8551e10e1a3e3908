"""Dynamic evaluation: a trained model that keeps learning while it reads.

The text is read in order, one lane, in segments of `segment` characters with the hidden state
carried. Each segment is first scored with the weights as they are, then one gradient step on that
segment's mean loss moves the weights, so a name or phrase that recurs gets likelier each time it
comes back (Krause, Kahembwe, Murray and Renals, "Dynamic Evaluation of Neural Sequence Models",
ICML 2018). Every character is scored before anything learned from it is used, so the score is an
honest prediction.

The update is that paper's RMS variant with decay back to the trained weights theta0:

    theta <- theta - lr * g / (rms + eps) + decay * r * (theta0 - theta)

g is the segment's gradient; rms is the root mean square of the gradients per weight; r is each
weight's rms divided by the mean rms (the mean of each tensor's mean), capped at 1 / decay, so the
weights that move most are pulled back hardest and none overshoots theta0. The paper takes rms from
the training text. A checkpoint does not carry its training text (a slim one not even its optimizer
state), so here rms is the running mean of the squared gradients of the segments read so far: it
uses only text already scored, and it needs nothing but the checkpoint.

`Adapter` holds that state and does the steps; `adapted(model)` restores the trained weights on
exit, so nothing learned leaks into later use of the model. Knows nothing of files or the terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from ..config import AdaptConfig
from ..data.tokenfile import Tokens
from ..data.windows import IGNORE, scoring_windows
from ..model import CharLSTM, State, detach_state

CONTEXT = 2_000  # characters of an adapted-to text read again before a prime, so sampling continues it


class Adapter:
    """One model's dynamic-evaluation state: its trained weights, the gradient statistics so far,
    and the hidden state at the end of what it has read."""

    def __init__(self, model: CharLSTM, settings: AdaptConfig = AdaptConfig()):
        self.model, self.settings = model, settings
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.theta0 = [p.detach().clone() for p in self.params]
        self.ms = [torch.zeros_like(p) for p in self.params]
        self.updates = 0
        self.state: State | None = None

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Score one window (x[B, T] predicting y[B, T]; IGNORE marks a lane that has run out) with the
        current weights, then learn from it. Returns the window's summed loss in nats."""
        model, s = self.model, self.settings
        with torch.enable_grad():
            logits, state = model(x, self.state)
            total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1),
                                    ignore_index=IGNORE, reduction="sum")
            if s.lr > 0 or s.decay > 0:
                count = int((y != IGNORE).sum())
                grads = torch.autograd.grad(total / count, self.params, allow_unused=True)
                self._update(grads)
        self.state = detach_state(state)
        return total.item()

    @torch.no_grad()
    def _update(self, grads: tuple[torch.Tensor | None, ...]) -> None:
        s = self.settings
        self.updates += 1
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(self.params, grads)]
        # running mean of g^2 over the segments read so far (this one included)
        torch._foreach_mul_(self.ms, (self.updates - 1) / self.updates)
        torch._foreach_addcmul_(self.ms, grads, grads, value=1.0 / self.updates)
        rms = torch._foreach_sqrt(self.ms)
        mean_rms = sum(float(r.mean()) for r in rms) / len(rms)
        if s.decay > 0 and mean_rms > 0:
            # pull = decay * min(rms / mean_rms, 1 / decay) * (theta0 - theta)
            pull = torch._foreach_sub(self.theta0, self.params)
            rate = torch._foreach_mul(rms, s.decay / mean_rms)
            torch._foreach_clamp_max_(rate, 1.0)
            torch._foreach_mul_(pull, rate)
            torch._foreach_add_(self.params, pull)
        if s.lr > 0:
            torch._foreach_add_(rms, s.eps)
            torch._foreach_addcdiv_(self.params, grads, rms, value=-s.lr)

    def read(self, ids: Tokens | np.ndarray, progress: Callable[[int], None] | None = None) -> float:
        """Read ids, scoring each character before learning from it; the mean loss in nats/char of
        predicting ids[1:] from ids[:-1]. With one lane the text is read in order and the state carries
        on, so a later call continues the text. With `lanes` > 1 it is laid into that many contiguous
        lanes read side by side (as `training.evaluate.evaluate` lays them), one update per window of
        all lanes: the same honest scoring, in another order, several times faster on a CPU."""
        ids = Tokens.of(ids)
        n = len(ids) - 1
        if n < 1:
            raise ValueError("need at least 2 ids to read")
        device = self.model.head.weight.device
        seg = self.settings.segment
        B = max(1, min(self.settings.lanes, n // seg))
        if self.state is not None and self.state[0].shape[1] != B:
            self.state = None  # another layout: the lanes start afresh
        total = 0.0
        for x, y in scoring_windows(ids, B, seg):
            total += self.step(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
            if progress:
                progress(int((y != IGNORE).sum()))
        return total / n

    def restore(self) -> None:
        """Put the trained weights back (the statistics and the state are kept)."""
        with torch.no_grad():
            torch._foreach_copy_(self.params, self.theta0)


@contextmanager
def adapted(model: CharLSTM, settings: AdaptConfig = AdaptConfig()) -> Iterator[Adapter]:
    """An Adapter over `model` in eval mode (no dropout); on exit the trained weights and the model's
    mode come back, however the block ends."""
    was_training = model.training
    model.eval()
    adapter = Adapter(model, settings)
    try:
        yield adapter
    finally:
        adapter.restore()
        model.train(was_training)


def adapted_copy(model: CharLSTM, ids: Tokens | np.ndarray, config: AdaptConfig = AdaptConfig()
                 ) -> tuple[CharLSTM, float]:
    """A copy of `model` (eval mode) adapted to ids, and the mean loss while it read them; `model` itself
    is not touched, so a model shared between threads stays as it was."""
    import copy
    twin = copy.deepcopy(model).eval()
    return twin, Adapter(twin, config).read(ids)


def dynamic_evaluate(model: CharLSTM, ids: Tokens | np.ndarray, settings: AdaptConfig = AdaptConfig(),
                     progress: Callable[[int], None] | None = None) -> float:
    """Mean nats/char of ids[1:] under dynamic evaluation; the model's weights are unchanged after."""
    with adapted(model, settings) as adapter:
        return adapter.read(ids, progress)
