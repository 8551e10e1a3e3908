"""Arguments and options that several commands share, each defined once: an `Annotated` alias
(`Run`, `Last`, `Root`, `Device`, ...), a `variant` of one (`kept` for `resume`), or a small factory
where each command says what the option holds (`json_flag`, `output_file`); the choices of every
option that takes one of a closed set of words, as `str` Enums; and the names of the help panels
that group them.

No torch here (`charlstm --help` must stay instant): choices that a torch-importing module also
lists are spelled out and tests/cli/test_options.py checks that the two agree.

Help conventions: every value option shows its default; a default that is computed at run time is
given as a `show_default` string ("from --preset"), never as `[default: ...]` written into the help
text, which rich markup would read as a style tag and swallow.
"""

from __future__ import annotations

import copy
import math
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, get_args

import typer

from ..config import CELLS, OPTIMIZERS, SCHEDULES, TrainConfig
from ..tokenizer import NORMALIZATIONS
from ..training.sizing import FINE_TUNE, PRESET_NAMES, VOCAB_MODES

DEFAULTS = TrainConfig()


def _choices(name: str, values) -> type[Enum]:
    """A `str` Enum whose members are `values` (each named as its value): Typer lists the values in
    --help, offers them to shell completion and refuses any other word with a usage error (exit 2).
    Commands pass `.value` on to the library."""
    return Enum(name, [(v, v) for v in values], type=str)


Cell = _choices("Cell", CELLS)
Preset = _choices("Preset", PRESET_NAMES)
Schedule = _choices("Schedule", SCHEDULES)
Optimizer = _choices("Optimizer", OPTIMIZERS)
PrecisionKind = _choices("PrecisionKind", ("auto", "fp32", "bf16", "fp16"))  # config.PRECISIONS
Engine = _choices("Engine", ("auto", "numpy", "fast", "graph", "plain", "fp16"))  # sampling.generate.ENGINES
Normalization = _choices("Normalization", NORMALIZATIONS)
Errors = _choices("Errors", ("strict", "replace", "ignore"))  # textfiles.ReadOptions
Newline = _choices("Newline", ("lf", "keep"))  # textfiles.NEWLINES
State = _choices("State", ("c", "h"))
Feature = _choices("Feature", ("quotes", "line", "brackets"))  # insight.gates.FEATURES
Axis = _choices("Axis", ("step", "time"))  # insight.curves.plot_runs
VocabMode = _choices("VocabMode", VOCAB_MODES)

DEVICE_KINDS = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(value: str) -> str:
    """Refuse a malformed --device before anything is read (whether the hardware is there is
    checked when the command resolves it)."""
    if not _DEVICE.fullmatch(value):
        raise typer.BadParameter(f"{value!r} is not a device: use {', '.join(DEVICE_KINDS)}")
    return value


MAX_THREADS = 1024


def check_finite(value: float | None) -> float | None:
    """Refuse nan and infinities for a float option (click's ranges let nan through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def check_probability(value: float | None) -> float | None:
    """A share of probability mass: finite and in (0, 1]."""
    check_finite(value)
    if value is not None and not 0 < value <= 1:
        raise typer.BadParameter(f"{value} is not in (0, 1]")
    return value


def check_encoding(value: str) -> str:
    """Refuse an --encoding Python does not know, or a codec that is not a text encoding (hex,
    rot13, base64 turn bytes into bytes or text into text), before anything is read."""
    import codecs
    try:
        info = codecs.lookup(value)
    except (LookupError, ValueError, TypeError):
        raise typer.BadParameter(f"{value!r} is not a text encoding Python knows (e.g. utf-8, latin-1, "
                                 "utf-16, cp1252)") from None
    if not getattr(info, "_is_text_encoding", True):
        raise typer.BadParameter(f"{value!r} is a {info.name} codec, not a text encoding (e.g. utf-8, latin-1)")
    return value


def check_name(value: str | None) -> str | None:
    """A run name must name a folder: not empty, not '.' or '..', no NUL."""
    if value is None:
        return None
    parts = value.replace("\\", "/").split("/")
    if not value.strip() or "\0" in value or any(p in (".", "..") for p in parts) or value.startswith("/"):
        raise typer.BadParameter(f"{value!r} is not a run name: give a folder name under --root, like 'demo'")
    return value


def complete_device(incomplete: str) -> list[str]:
    return [d for d in ("auto", "cpu", "cuda", "cuda:0", "cuda:1", "mps") if d.startswith(incomplete)]


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


def unescape(text: str | None) -> str | None:
    r"""Read \n, \t and \\ in an option's text as a line break, a tab and one backslash (so
    `--stop-at '\n\n'` works without bash's $'...'); any other backslash is kept as typed."""
    if text is None:
        return None
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[0]), text, flags=re.DOTALL)


def variant(alias, **changes):
    """The same argument or option with a few settings changed (its default as shown, its help
    panel), declared nowhere else."""
    typ, info = get_args(alias)
    info = copy.copy(info)
    for name, value in changes.items():
        setattr(info, name, value)
    return Annotated[typ, info]


def kept(alias, text: str = "the run's"):
    """The same option for `resume`, where leaving it out keeps the run's own setting."""
    return variant(alias, show_default=text)


def json_flag(help: str, panel: str | None = None):
    """`--json`: JSON on stdout instead of text for people; `help` says what the JSON holds."""
    return Annotated[bool, typer.Option("--json", help=help, rich_help_panel=panel)]


def output_file(help: str, shown: str | bool = True, panel: str | None = None):
    """`--output`/`-o`: where the command writes; `help` says what, `shown` the default as shown."""
    return Annotated[Path | None, typer.Option("--output", "-o", help=help, show_default=shown,
                                               rich_help_panel=panel)]


P_MODEL, P_TRAIN, P_BUDGET, P_EVAL, P_INPUT, P_OUT, P_RUN = (
    "Model", "Optimisation", "Budget (first reached stops)", "Evaluation and checkpoints", "Corpus reading",
    "Output", "Run and device")
Root = Annotated[Path, typer.Option("--root", help="Folder that holds the runs.", rich_help_panel=P_RUN)]
RunArg = Annotated[Path | None, typer.Argument(metavar="[RUN]", help="Run name, run folder or checkpoint file.",
                                            show_default="the newest run under --root")]
Last = Annotated[bool, typer.Option("--last", help="In a run folder, use last.pt rather than best.pt.",
                                    rich_help_panel=P_RUN)]
Device = Annotated[str, typer.Option(
    "--device", help="auto, cpu, cuda, cuda:N or mps. auto takes a CUDA GPU when there is one, else the CPU; "
    "on a Mac, training takes the Apple GPU (mps) only when a timed pass shows it faster than the CPU, and "
    "the run's device line says what was measured.",
    callback=check_device, autocompletion=complete_device, rich_help_panel=P_RUN)]
Threads = Annotated[int | None, typer.Option("--threads", min=1, max=MAX_THREADS,
                                             help="CPU threads to compute with (torch's, and in "
                                             "`sample` numpy's BLAS's: OpenBLAS, MKL or Apple's Accelerate).",
                                             show_default="torch's choice, one per core", rich_help_panel=P_RUN)]
Precision = Annotated[PrecisionKind | None, typer.Option(
    "--precision", help="auto (bf16 autocast where a timed probe shows it much faster, e.g. CPUs with AMX; fp16 "
    "with loss scaling on GPUs without bf16; else fp32), fp32, bf16 or fp16.", rich_help_panel=P_RUN)]
Steps = Annotated[int | None, typer.Option("--steps", min=1, help="Stop after this many optimizer steps.",
                                           show_default="none", rich_help_panel=P_BUDGET)]
Epochs = Annotated[float | None, typer.Option("--epochs", min=0.0, callback=check_finite, help="Stop after this many "
                                              "passes over the training text.", show_default="none",
                                              rich_help_panel=P_BUDGET)]
Time = Annotated[str | None, typer.Option("--time", help="Stop after this much training time, e.g. 90s, 10m, 1h30m "
                                          "(evaluation not counted).",
                                          show_default=f"10m when no budget is given; {FINE_TUNE['time'] / 60:g}m "
                                                       "with --init-from",
                                          rich_help_panel=P_BUDGET)]
EvalEvery = Annotated[int | None, typer.Option("--eval-every", min=1, help="Steps between validation runs.",
                                               rich_help_panel=P_EVAL)]
SaveEvery = Annotated[list[str] | None, typer.Option(
    "--save-every", help="Save last.pt every N steps and/or every duration (e.g. --save-every 500 --save-every "
    "5m).", show_default=f"{DEFAULTS.save_every} and {DEFAULTS.save_every_time / 60:g}m", rich_help_panel=P_EVAL)]
SampleEvery = Annotated[int | None, typer.Option("--sample-every", min=0, help="Show a preview sample every N "
                                                 "evaluations (0: never).", rich_help_panel=P_EVAL)]
MaxBad = Annotated[int | None, typer.Option("--max-bad-steps", min=0, help="Skip up to K non-finite steps in a "
                                            "row before stopping.", rich_help_panel=P_TRAIN)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only warnings, errors and how the run ended when it "
                                     "did not simply finish (a finished run prints nothing).", rich_help_panel=P_OUT)]
Plain = Annotated[bool, typer.Option("--plain", help="One log line per report instead of the live dashboard "
                                     "(automatic when stderr is not a terminal).", rich_help_panel=P_OUT)]
Json = json_flag("Events as JSON Lines on stdout (one compact object per line), for scripts; see docs/json.md.",
                 P_OUT)
LogEvery = Annotated[int | None, typer.Option("--log-every", min=1, help="Steps between progress reports.",
                                              rich_help_panel=P_OUT)]

# `resume`: leaving these out keeps the run's own setting (see training.start.RESUME_OVERRIDABLE)
KeptSteps, KeptEpochs, KeptTime = (kept(a, "the run's budget") for a in (Steps, Epochs, Time))
KeptEvalEvery, KeptSaveEvery, KeptSampleEvery, KeptMaxBad, KeptPrecision, KeptLogEvery = (
    kept(a) for a in (EvalEvery, SaveEvery, SampleEvery, MaxBad, Precision, LogEvery))
