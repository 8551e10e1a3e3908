"""Several processes training one model: torchrun + DistributedDataParallel.

    torchrun --nproc-per-node=2 -m charlstm train corpus.txt

torchrun starts the processes and sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address;
`Dist.from_env()` joins them (NCCL on CUDA, gloo on the CPU). The global batch of B lanes is the
same at any process count: rank r of W reads lanes [rB/W, (r+1)B/W) and DDP averages the gradients,
so the update equals the one-process update over all B lanes, and a run can resume with another
number of processes. Every decision that must not differ between ranks (stop, skip a non-finite
step, save, the validation loss, training time) goes through a collective, so all ranks stop and
save at the same step. Rank 0 alone evaluates, writes checkpoints and renders progress.

The training loop asks `Dist` for each of these decisions (`any`, `mean_loss`, `agree_clock`,
`broadcast`); under one process every method is a no-op that hands back the local value.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..errors import ConfigError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device_type: str) -> Dist:
        """Join the process group torchrun describes in the environment (one process: inactive)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def lanes(self, batch_size: int) -> range:
        """This rank's share of the B lanes."""
        if batch_size % self.world:
            raise ConfigError(f"--batch-size {batch_size} must divide evenly among {self.world} processes")
        per = batch_size // self.world
        return range(self.rank * per, (self.rank + 1) * per)

    def part(self, batch_size: int) -> range | None:
        """The lanes this rank reads, or None when one process reads them all."""
        return self.lanes(batch_size) if self.active else None

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module | None:
        """The DistributedDataParallel wrapper that averages gradients over ranks (None for one process)."""
        if not self.active:
            return None
        from torch.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def seed_rank(self, seed: int, step: int) -> None:
        """Each extra rank draws its own dropout masks; rank 0 keeps the run's random stream."""
        if self.rank:
            torch.manual_seed(seed + 7919 * self.rank + step)

    def mean_loss(self, loss: float) -> float:
        """The loss over all lanes (the mean over ranks); NaN when it is non-finite on any rank, so
        every rank skips or stops together."""
        if not self.active:
            return loss
        ok = math.isfinite(loss)
        total, bad = self.sum([loss if ok else 0.0, 0.0 if ok else 1.0])
        return total / self.world if bad == 0 else math.nan

    def agree_clock(self, seconds: float, save_due: bool) -> tuple[float, bool]:
        """One clock for all ranks, so time budgets and timed saves agree: the mean step time, and a
        save when any rank's timer is due."""
        if not self.active:
            return seconds, save_due
        total, due = self.sum([seconds, float(save_due)])
        return total / self.world, due > 0

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (identity for one process)."""
        if not self.active:
            return list(values)
        import torch.distributed as dist
        t = torch.tensor(values, dtype=torch.float64)
        t = t.to(self._device())
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def broadcast(self, value: float) -> float:
        """Rank 0's value on every rank."""
        if not self.active:
            return value
        import torch.distributed as dist
        t = torch.tensor([value], dtype=torch.float64, device=self._device())
        dist.broadcast(t, 0)
        return float(t.item())

    def share(self, obj):
        """Rank 0's (picklable) object on every rank."""
        if not self.active:
            return obj
        import torch.distributed as dist
        box = [obj]
        dist.broadcast_object_list(box, 0)
        return box[0]

    @contextmanager
    def main_first(self):
        """Rank 0 runs the block first (e.g. writes a cache); the others wait, then run it."""
        if not self.active:
            yield
            return
        import torch.distributed as dist
        if not self.is_main:
            dist.barrier()
        try:
            yield
        finally:
            if self.is_main:
                dist.barrier()

    def gather_lanes(self, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """Each rank's hidden state [L, B/W, H] -> the whole batch's [L, B, H] (on every rank)."""
        if not self.active:
            return state
        import torch.distributed as dist
        out = []
        for s in state:
            parts = [torch.empty_like(s) for _ in range(self.world)]
            dist.all_gather(parts, s.contiguous())
            out.append(torch.cat(parts, dim=1))
        return tuple(out)

    def _device(self) -> torch.device:
        import torch.distributed as dist
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def close(self, wait: bool = False) -> None:
        """Leave the process group. With `wait` (a run that ended the same way on every rank) the
        ranks first meet at a barrier, so none tears gloo down while another still has work in flight
        (seen here as a rare 'terminate called without an active exception' at exit). After an error
        no rank waits: another may never arrive."""
        if self.active:
            import torch.distributed as dist
            if dist.is_initialized():
                if wait:
                    dist.barrier()
                dist.destroy_process_group()
