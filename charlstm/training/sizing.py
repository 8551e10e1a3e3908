"""Model and batch sizes chosen from the corpus, the time budget and the device.

A user who types `charlstm train corpus.txt` gets a model sized for what the run can afford, and
sees why. Every option the user gives still wins: sizing fills in only what was left open.

The rule comes from two regimes (bench/RESULTS.md: "Quality at equal time", "Weight drop",
"Sizing weighs a time budget by measured speed"):
- budget-bound (a CPU): the model sees a few passes over the text, so the question is how much it
  learns per second. After enough passes it starts to memorise, which dropping a share of its
  recurrent weights per window (weight drop) holds off. Little text, or a budget in which `medium`
  can read only little of it, calls for a smaller model (`small`), which overfits less and makes
  more updates per second. How much `medium` can read is measured, not guessed: its speed differs
  several times over between CPUs. Where the budget leaves only a few hundred steps, the number of
  updates, not of characters, limits the run: a smaller batch that trains nearly as many
  characters a second gives more of them (`halve_batch`).
- data-bound (a GPU): hundreds of passes fit in minutes, so the model overfits; there a larger
  model with heavy dropout, weight decay and a learning-rate cut at the first plateau (then early
  stopping) reached the lowest validation loss of the candidates tried.
Pure Python; knows nothing of torch.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from ..errors import ConfigError

MODEL_FIELDS = ("layers", "hidden", "embed", "dropout", "weight_drop")
TRAIN_FIELDS = ("batch_size", "seq_len", "lr", "weight_decay", "plateau")

# Each preset's values, and each rule's line below, were chosen by measurement: bench/RESULTS.md has the
# runs under the section each comment names.
PRESETS: dict[str, dict] = {
    "tiny": dict(layers=1, hidden=128, embed=32, dropout=0.0, weight_drop=0.0, batch_size=32, seq_len=64,
                 lr=3e-3, weight_decay=0.0, plateau=3),
    # weight drop as `medium`'s
    "small": dict(layers=2, hidden=256, embed=64, dropout=0.1, weight_drop=0.3, batch_size=64, seq_len=128,
                  lr=3e-3, weight_decay=0.0, plateau=3),
    # weight drop and weight decay: each helps once a CPU run reads its text many times ("Weight drop")
    "medium": dict(layers=2, hidden=512, embed=128, dropout=0.2, weight_drop=0.3, batch_size=64, seq_len=128,
                   lr=2e-3, weight_decay=0.1, plateau=3),
    # for a GPU, which memorises within a minute: heavy dropout and a rate cut at the first evaluation
    # without a new best ("GPU preset sweep")
    "large": dict(layers=3, hidden=1024, embed=256, dropout=0.5, weight_drop=0.0, batch_size=64, seq_len=128,
                  lr=1e-3, weight_decay=0.1, plateau=1),
}
PRESET_NAMES = ("auto", *PRESETS)

SMALL_CORPUS = 300_000  # characters: below this even `medium` memorises within minutes
# Below this many estimated passes over the text a preset's weight drop is left off: a run that reads
# its text a few times is not yet memorising, and the dropped weights only slow it ("Weight drop").
FEW_PASSES = 9.0
# From this many passes a sized run's dropout and weight drop are raised to at least STRONG: a small
# text read this often is memorised long before the budget ends ("Small texts: regularisation from the
# passes").
MANY_PASSES = 40.0
STRONG = {"dropout": 0.3, "weight_drop": 0.5}
# A CPU run with a time budget that would make fewer than MIN_STEPS updates halves its batch (down to
# MIN_BATCH) while the half batch still trains HALF_BATCH_RATE of the characters a second: where the
# updates, not the characters, limit a run, twice the updates for nearly the same characters end lower
# ("Few steps: a smaller batch").
MIN_STEPS = 1_200
MIN_BATCH = 16
HALF_BATCH_RATE = 0.75
# Characters `medium` must be able to read within a time budget (at its measured speed) to be chosen
# over `small`, which ends lower where `medium` reads too little ("Sizing weighs a time budget by
# measured speed").
MIN_READ = 3_000_000

# Fine-tuning a trained model (`train --init-from`): its size comes from the checkpoint; what the user
# leaves open is the parent's own peak rate (a trained parent is harmed by a larger one), the wsd
# schedule after a short warm-up (the new optimizer's moments start at zero), a shorter budget, and
# dropout raised to 0.4, since a small text is read many times in that budget ("Fine-tuning's learning
# rate", "The starter model"; the starter's own 0.2 memorised code sooner: "Fine-tuning's dropout,
# again"). Weight drop as the presets use it: on from FEW_PASSES passes.
FINE_TUNE = dict(lr_share=1.0, schedule="wsd", warmup=20, time=120.0, weight_drop=0.3, dropout=0.4)
VOCAB_MODES = ("extend", "strict", "map")  # finetune.plan_vocab: what happens to characters the model never saw



@dataclass(frozen=True)
class Sizing:
    preset: str
    values: dict  # MODEL_FIELDS and TRAIN_FIELDS
    reason: str

    def model(self) -> dict:
        return {k: self.values[k] for k in MODEL_FIELDS}

    def train(self) -> dict:
        return {k: self.values[k] for k in TRAIN_FIELDS}


def check(preset: str) -> None:
    if preset not in PRESET_NAMES:
        raise ConfigError(f"--preset must be one of {', '.join(PRESET_NAMES)}, not {preset!r}")


def choose(preset: str, corpus_chars: int, budget_s: float | None, device_type: str,
           rate: Callable[[dict], float] | None = None) -> Sizing:
    """The preset to use and why. `budget_s` is the time budget (None when the budget is in steps
    or epochs); `device_type` is torch's device type (cpu, cuda, mps); `rate(values)` measures the
    characters per second a model of a preset's `values` trains at here (called only when a time
    budget on a CPU or MPS has to be weighed; without it the budget is not weighed)."""
    check(preset)
    if preset != "auto":
        return Sizing(preset, dict(PRESETS[preset]), f"{preset} (as asked)")
    size = _characters(corpus_chars)
    if device_type == "cuda":
        if corpus_chars < SMALL_CORPUS:
            name, why = "medium", f"{size} is little text for a GPU: a larger model would only memorise it"
        else:
            name, why = "large", (f"{size} on a GPU: many passes fit in the budget, so a large model with "
                                  "heavy dropout and weight decay")
    else:
        where = "the CPU" if device_type == "cpu" else device_type.upper()
        if corpus_chars < SMALL_CORPUS:
            name, why = "small", f"{size} on {where}: a small model overfits less on little text"
        elif budget_s is not None and rate is not None:
            per_s = rate(PRESETS["medium"])
            read = f"{_characters(per_s * budget_s)} in the budget ({per_s:,.0f} chars/s measured here)"
            if per_s * budget_s < MIN_READ:
                name, why = "small", (f"{size} on {where}, where medium would read only {read}: "
                                      "a small model learns sooner")
            else:
                name, why = "medium", f"{size} on {where}, where medium reads {read}"
        else:
            name, why = "medium", f"{size} on {where}: sized for how much the budget can teach"
    return Sizing(name, dict(PRESETS[name]), f"{name} ({why})")


def _characters(n: float) -> str:
    """1.1M characters; under 100k, the count itself (a short budget must not say "0.0M")."""
    return f"{n / 1e6:.1f}M characters" if n >= 1e5 else f"{n:,.0f} characters"


def expected_passes(budget: dict, chars_per_step: int, train_chars: int, step_seconds: float | None) -> float | None:
    """How many times a run will read its training text: the least over the budget's limits (the
    first one reached stops it). A time budget needs the seconds per step (None: unknown)."""
    est = []
    if budget.get("steps"):
        est.append(budget["steps"] * chars_per_step / train_chars)
    if budget.get("epochs"):
        est.append(float(budget["epochs"]))
    if budget.get("time") and step_seconds:
        est.append(budget["time"] / step_seconds * chars_per_step / train_chars)
    return min(est) if est else None


def halve_batch(batch: int, steps: float, rate: float, half_rate: Callable[[], float]) -> bool:
    """Whether a run that would make `steps` steps at `batch` (training `rate` characters a second)
    should use half the batch; `half_rate()` measures the half batch's characters a second, and is
    called only when the steps are few."""
    if steps >= MIN_STEPS or batch // 2 < MIN_BATCH:
        return False
    return half_rate() >= HALF_BATCH_RATE * rate


def batch_note(preset_batch: int, preset_steps: float, batch: int, share: float) -> str:
    """Why a run uses `batch` instead of its preset's: the steps the preset's batch would make, and
    the share of its characters a second the smaller batch trains."""
    return (f"batch {preset_batch} would make only ~{preset_steps:,.0f} steps in the budget; {batch} trains "
            f"{share:.0%} as many characters a second with {preset_batch // batch}x the updates")


def regularisation_for(values: dict, passes: float | None, given: Collection[str] = ()) -> tuple[dict, str]:
    """The dropout and weight drop a sized run uses (from `values`, the preset's; those in `given`,
    the user's, are kept), and why: no weight drop when the run reads its text only a few times (the
    regulariser would only slow the learning down), the preset's own in between, and at least STRONG
    when it reads the text so often that it would memorise it before the budget ends. Unknown passes
    keep the preset's values."""
    got = {k: values[k] for k in STRONG}
    open_ = [k for k in STRONG if k not in given]
    if passes is None or not open_:
        return got, ""
    wd_open = "weight_drop" in open_ and got["weight_drop"] > 0
    if passes < FEW_PASSES:
        if not wd_open:
            return got, ""
        return {**got, "weight_drop": 0.0}, f"{_passes(passes)} over the text, too few to memorise it"
    if passes >= MANY_PASSES:
        names = " and ".join(k.replace("_", " ") for k in open_)
        return ({**got, **{k: max(got[k], STRONG[k]) for k in open_}},
                f"{_passes(passes)} over the text, enough to memorise it: {names} raised")
    return got, f"{_passes(passes)} over the text" if wd_open else ""


def _passes(n: float) -> str:
    """~7 passes; under one pass, the share of the text read (a short run must not say "~0 passes")."""
    return f"~{n:.0f} passes" if n >= 1.5 else "~1 pass" if n >= 0.5 else f"{n:.0%} of one pass"


def describe(values: dict, weight_drop_why: str = "", batch_why: str = "") -> str:
    v = values
    return (f"{v['layers']}x{v['hidden']}, embed {v['embed']}, dropout {v['dropout']:g}, "
            f"weight drop {v['weight_drop']:g}{f' ({weight_drop_why})' if weight_drop_why else ''}, "
            f"batch {v['batch_size']} x seq {v['seq_len']}{f' ({batch_why})' if batch_why else ''}, "
            f"lr {v['lr']:g}, weight decay {v['weight_decay']:g}, plateau {v['plateau']}")
