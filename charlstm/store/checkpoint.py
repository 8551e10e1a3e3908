"""Checkpoints: one self-describing plain dict per file, saved atomically and loaded safely.

A checkpoint holds only tensors and primitives, so every load goes through
`torch.load(weights_only=True)` with no allow-list: a file crafted to run code on unpickling is
refused, never executed. Every load is validated (format, shapes against the stored config and
vocabulary, finite weights) and any problem becomes one `CheckpointError`. Knows nothing of the
training loop or the terminal.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import torch

from ..config import ModelConfig, TrainConfig
from ..devices import mps_available
from ..errors import CheckpointError
from ..model import CharLSTM
from ..tokenizer import CharTokenizer
from ..values import is_finite_number
from . import checks
from .checks import FORMAT_VERSION, is_int, need  # noqa: F401  (FORMAT_VERSION re-exported)
from .files import TMP_MARK, atomic_write
from .portable import process_alive
from .runs import checkpoints_in


def save(ckpt: dict, path: Path) -> None:
    """Write `ckpt` so that `path` always holds either the old file or the complete new one:
    temp file in the same directory, flush + fsync, os.replace, fsync the directory. Ctrl-C and
    SIGTERM wait until it is done (see _signals_deferred)."""
    path = Path(path)
    check_plain(ckpt)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _signals_deferred():
        try:
            with atomic_write(path) as f:
                torch.save(ckpt, f)
        except (OSError, RuntimeError) as e:
            # a full disk inside torch.save surfaces as a RuntimeError from its zip writer
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0] if str(e) else e
            raise CheckpointError(f"could not save {path}: {why}; the previous checkpoint is untouched") from e


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while a checkpoint is written, and handle them once it is in place.
    The CLI leaves at once (os._exit) on a second Ctrl-C: landing mid-save, that would leave a run
    without the checkpoint it was writing (its first save has nothing older to fall back on) and a
    stray temp file. This is the one place the library touches signals. Blocking them with
    pthread_sigmask is not enough: a signal sent to the process (Ctrl-C, kill) then goes to one of
    torch's worker threads, and Python still runs its handler in the main thread between two
    bytecodes of torch.save. So the Python handlers are swapped for one that notes the signal, and
    the noted signals are raised again, in order, after the rename. Main thread only (signal.signal
    works there alone); elsewhere the save runs unguarded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    previous = {s: h for s, h in previous.items() if h is not None}  # None: set outside Python, left alone
    for s in previous:
        signal.signal(s, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        for s in held:
            signal.raise_signal(s)


_PLAIN = (int, float, str, bool, bytes, type(None))


def check_plain(obj: object, where: str = "checkpoint") -> None:
    """Refuse (TypeError, a bug) anything but tensors, primitives, lists, tuples and str-keyed dicts,
    so every checkpoint written can be read back with weights_only=True."""
    if type(obj) in _PLAIN or type(obj) is torch.Tensor:
        return
    if type(obj) in (list, tuple):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}[{i}]")
    elif type(obj) is dict:
        for k, v in obj.items():
            if type(k) not in (str, int):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}")
            check_plain(v, f"{where}[{k!r}]")
    else:
        raise TypeError(f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}, not a plain value")


def remove_orphans(run_dir: Path) -> list[Path]:
    """Delete temp files left by a save whose process died (the writer's pid ends the name); a save
    in flight in a live process is left alone. Returns what was removed."""
    gone = []
    for p in Path(run_dir).glob(f".*{TMP_MARK}*"):
        pid = p.name.rsplit(TMP_MARK, 1)[-1]
        theirs = pid.isdigit() and int(pid) != os.getpid() and process_alive(int(pid))
        if p.is_file() and not p.is_symlink() and not theirs:
            try:
                p.unlink(missing_ok=True)
            except PermissionError:  # Windows: still open in some process after all
                continue
            gone.append(p)
    return gone


def load(path: Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict:
    """Read and validate a checkpoint; any problem is one CheckpointError naming it. `mmap` maps the
    tensors instead of reading them (for looking at metadata of many runs quickly)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        # a reference to a class or function is what a code-running pickle needs: that is refused;
        # anything else the unpickler trips over is plain corruption
        found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)", str(e))
        if found:
            raise CheckpointError(f"{path} was refused: it holds objects other than tensors and plain values "
                                  f"({found.group(1)}), which could run code when loaded") from None
        raise CheckpointError(f"{path} is corrupt or not a charlstm checkpoint (unreadable pickle data)") from None
    except Exception as e:  # truncated zip, bad magic, garbage bytes ...
        raise CheckpointError(f"{path} is corrupt or not a charlstm checkpoint ({type(e).__name__}: "
                              f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''})") from None
    validate(ckpt, path)
    return ckpt


def validate(ckpt: object, path: Path | str = "checkpoint") -> None:
    """checks.validate with torch's tensors: any problem is one CheckpointError."""
    checks.validate(ckpt, path, lambda t: isinstance(t, torch.Tensor), lambda t: bool(torch.isfinite(t).all()))


def build_model(ckpt: dict, device: str | torch.device = "cpu") -> tuple[CharLSTM, CharTokenizer]:
    """Model (in eval mode) and tokenizer from a validated checkpoint."""
    model = CharLSTM(ModelConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), CharTokenizer.from_dict(ckpt["vocab"])


def load_newest_good(run_dir: Path, map_location: str | torch.device = "cpu") -> tuple[dict, Path, list[str]]:
    """The newest checkpoint of a run that loads; returns it, its path and the problems with any
    newer ones that were passed over (so the caller can say so)."""
    candidates = checkpoints_in(run_dir)
    problems: list[str] = []
    for p in candidates:
        try:
            return load(p, map_location), p, problems
        except CheckpointError as e:
            problems.append(str(e))
    raise CheckpointError(f"no loadable checkpoint in {run_dir}" + (": " + "; ".join(problems) if problems else ""))




def validate_training_state(ckpt: dict, path: Path | str = "checkpoint") -> None:
    """What only `resume` reads, type-checked before any of it is used: the carried hidden state,
    the random state, the loss scaler and the optimizer's layout (`check_resumable` loads the
    optimizer state into a throwaway optimizer to check the rest)."""
    if "slim" in ckpt:
        raise CheckpointError(f"{path} is a slim checkpoint (weights only, no optimizer or data position), so it "
                              "cannot be resumed; start from it with `charlstm train CORPUS --init-from "
                              f"{path}` instead")
    m = ModelConfig.from_dict(ckpt["model_config"])
    cfg = TrainConfig.from_dict(ckpt["train_config"])
    hidden = ckpt.get("hidden")
    shape = (m.layers, cfg.batch_size, m.hidden)
    need(isinstance(hidden, list) and (hidden == [] or (len(hidden) == (2 if m.cell == "lstm" else 1) and all(
        isinstance(h, torch.Tensor) and tuple(h.shape) == shape and h.dtype in HIDDEN_DTYPES
        and bool(torch.isfinite(h).all()) for h in hidden))),
          path, f"the carried hidden state is not {2 if m.cell == 'lstm' else 1} x {shape} finite values", True)
    rng = ckpt.get("rng")
    need(isinstance(rng, dict) and _is_byte_tensor(rng.get("torch"))
          and isinstance(rng.get("python"), list) and len(rng["python"]) == 625 and all(map(is_int, rng["python"]))
          and (rng.get("python_gauss") is None or is_finite_number(rng["python_gauss"]))
          and (isinstance(rng.get("cuda", []), list) and all(map(_is_byte_tensor, rng.get("cuda", []))))
          and ("mps" not in rng or _is_byte_tensor(rng["mps"])), path,
          "its random state is damaged", True)
    scaler = ckpt.get("scaler", {})
    need(scaler == {} or (isinstance(scaler, dict) and set(scaler) == set(_SCALER) and all(
        is_finite_number(scaler[k]) and scaler[k] >= 0 and (is_int(scaler[k]) or not integral)
        for k, integral in _SCALER.items())), path, "its loss scaler state is damaged", True)
    opt = ckpt.get("optimizer")
    groups = opt.get("param_groups") if isinstance(opt, dict) else None
    need(isinstance(opt, dict) and isinstance(opt.get("state"), dict) and isinstance(groups, list) and len(groups) == 2
          and all(isinstance(g, dict) and isinstance(g.get("params"), list) and is_finite_number(g.get("lr", 0))
                  and is_finite_number(g.get("weight_decay", 0)) for g in groups)
          and sum(len(g["params"]) for g in groups) == len(ckpt["model"]), path,
          "its optimizer state does not fit the model", True)


# the carried state is saved in fp32; earlier releases saved a bf16 or fp16 run's state in its own precision
HIDDEN_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_SCALER = {"scale": False, "growth_factor": False, "backoff_factor": False, "growth_interval": True,
           "_growth_tracker": True}  # GradScaler.state_dict() of an enabled scaler: key -> holds a count


def _is_byte_tensor(v: object) -> bool:
    return isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.dim() == 1


# --- a training run's record: written, checked and read back ------------------------------------------

def training_record(model: CharLSTM, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                    hidden: tuple, plain: dict) -> dict:
    """The checkpoint of a run in progress: the format and versions, the weights, the optimizer and
    loss scale, the carried `hidden` state, the random streams of this process, and the `plain` values:
    train_config, vocab, the position (step, cursor, epoch, train_time), the scores (best_val_loss,
    plateau, metrics, val_scored; in best.pt, what best_val_loss scored) and the run's corpus,
    run_name and lineage. Only tensors and primitives."""
    from .. import __version__

    _, py_state, py_gauss = random.getstate()
    rng = {"torch": torch.get_rng_state(), "python": list(py_state), "python_gauss": py_gauss}
    if torch.cuda.is_available():
        rng["cuda"] = list(torch.cuda.get_rng_state_all())
    if mps_available():  # dropout on the Apple GPU draws from its own stream
        rng["mps"] = torch.mps.get_rng_state()
    v = plain
    return {
        "format_version": FORMAT_VERSION, "charlstm_version": __version__, "torch_version": str(torch.__version__),
        "saved_at": datetime.now().isoformat(timespec="seconds"),
        "model_config": model.config.to_dict(), "train_config": v["train_config"], "vocab": v["vocab"],
        "model": {k: t.detach().cpu() for k, t in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": {"name": v["train_config"]["schedule"], "lr": optimizer.param_groups[0]["lr"]},
        **{k: v[k] for k in ("step", "cursor", "epoch", "train_time")},
        "hidden": [h.cpu() for h in hidden], "rng": rng,
        "best_val_loss": v["best_val_loss"], "plateau": v["plateau"], "scaler": scaler.state_dict(),
        **{k: v[k] for k in ("metrics", "val_scored", "corpus", "run_name", "lineage")},
    }


def restore_training_state(saved: dict, path: Path | str, optimizer: torch.optim.Optimizer,
                           scaler: torch.amp.GradScaler) -> None:
    """Load the saved optimizer state, loss scale and random streams (into this process). What torch
    raises on a damaged one becomes one CheckpointError."""
    with _restoring(path):
        optimizer.load_state_dict(saved["optimizer"])
        if saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        rng = saved["rng"]
        torch.set_rng_state(rng["torch"])
        random.setstate((3, tuple(rng["python"]), rng["python_gauss"]))
        if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])
        if "mps" in rng and mps_available():
            torch.mps.set_rng_state(rng["mps"])


def check_resumable(saved: dict, path: Path | str, optimizer: torch.optim.Optimizer) -> None:
    """Restore `saved` into a throwaway `optimizer` (fresh, over the run's model on the CPU, so the state
    is not copied to a device) and a throwaway loss scaler, leaving this process's random streams as
    they were; then check what torch leaves to the first step: the optimizer state's shapes and values
    and the hyperparameters' types. Any problem is one CheckpointError; nothing is written. `saved`
    has passed validate_training_state (its fields' types and shapes)."""
    fresh = [dict(g) for g in optimizer.param_groups]
    python_random = random.getstate()
    apple = torch.mps.get_rng_state() if mps_available() else None
    gpus = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=gpus):
            restore_training_state(saved, path, optimizer, torch.amp.GradScaler("cpu"))
    finally:
        random.setstate(python_random)
        if apple is not None:
            torch.mps.set_rng_state(apple)
    _check_optimizer(optimizer, fresh, path)


OPTIMIZER_STATE = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")  # what Adam and AdamW keep per weight


def _check_optimizer(opt: torch.optim.Optimizer, fresh: list[dict], path: Path | str) -> None:
    """The loaded optimizer state against the model: flags as a fresh optimizer has them, finite
    non-negative rates, and per weight finite moments of its shape."""
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: its optimizer state {what}; it cannot be resumed "
                               "(sample, eval and info still read it)")
    for group, new in zip(opt.param_groups, fresh):
        for k, v in new.items():
            if k != "params" and not _like(v, group.get(k, v)):
                raise bad(f"has {k} = {group.get(k)!r}")
        for p in group["params"]:
            for k, t in opt.state.get(p, {}).items():
                if k not in OPTIMIZER_STATE:
                    raise bad(f"holds an unknown entry {k!r}")
                if k == "step":
                    ok = _rate(t) or (isinstance(t, torch.Tensor) and t.numel() == 1 and _rate(t.item()))
                else:
                    ok = (isinstance(t, torch.Tensor) and t.shape == p.shape and t.dtype == p.dtype
                          and bool(torch.isfinite(t).all()) and (k == "exp_avg" or bool((t >= 0).all())))
                if not ok:
                    raise bad(f"does not fit the model ({k} of a weight of shape {tuple(p.shape)})")


def _rate(v: object) -> bool:
    return is_finite_number(v) and v >= 0


def _like(fresh: object, got: object) -> bool:
    """Whether a saved optimizer hyperparameter is of the kind a fresh optimizer holds."""
    if isinstance(fresh, bool) or fresh is None:  # flags (amsgrad, foreach, fused, capturable ...) as charlstm sets
        return type(got) is type(fresh) and got == fresh
    if isinstance(fresh, (int, float)):
        return _rate(got)
    return isinstance(got, (tuple, list)) and len(got) == len(fresh) and all(map(_rate, got))


@contextmanager
def _restoring(path: Path | str | None) -> Iterator[None]:
    """What torch raises on a damaged optimizer, loss scaler or random state, as one CheckpointError."""
    try:
        yield
    except (ValueError, KeyError, RuntimeError, TypeError, IndexError) as e:
        why = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise CheckpointError(f"{path}: its training state cannot be restored ({type(e).__name__}: {why}); "
                              "it cannot be resumed (sample, eval and info still read it)") from None
