"""Options that several commands share, each defined once as an `Annotated` alias, and the names
of the help panels that group them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import TrainConfig

DEFAULTS = TrainConfig()

P_MODEL, P_TRAIN, P_BUDGET, P_EVAL, P_INPUT, P_OUT, P_RUN = (
    "Model", "Optimisation", "Budget (first reached stops)", "Evaluation and checkpoints", "Corpus reading",
    "Output", "Run and device")
Root = Annotated[Path, typer.Option("--root", help="Folder that holds the runs.", rich_help_panel=P_RUN)]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps.",
                                     rich_help_panel=P_RUN)]
Threads = Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads for torch (default: torch's "
                                             "choice, one per core).", rich_help_panel=P_RUN)]
Precision = Annotated[str | None, typer.Option(
    "--precision", help="auto (bf16 autocast where a timed probe shows it much faster, e.g. CPUs with AMX; fp16 "
    "with loss scaling on GPUs without bf16; else fp32), fp32, bf16 or fp16 [default: auto].", rich_help_panel=P_RUN)]
Steps = Annotated[int | None, typer.Option("--steps", min=1, help="Stop after this many optimizer steps.",
                                           rich_help_panel=P_BUDGET)]
Epochs = Annotated[float | None, typer.Option("--epochs", min=0.0, help="Stop after this many passes over the "
                                              "training text.", rich_help_panel=P_BUDGET)]
Time = Annotated[str | None, typer.Option("--time", help="Stop after this much training time, e.g. 90s, 10m, 1h30m "
                                          "(evaluation not counted). Default when no budget is given: 10m.",
                                          rich_help_panel=P_BUDGET)]
EvalEvery = Annotated[int | None, typer.Option("--eval-every", min=1, help=f"Steps between validation runs "
                                               f"[default: {DEFAULTS.eval_every}].", rich_help_panel=P_EVAL)]
SaveEvery = Annotated[list[str] | None, typer.Option(
    "--save-every", help=f"Save last.pt every N steps and/or every duration (e.g. --save-every 500 --save-every "
    f"5m) [default: {DEFAULTS.save_every} and {DEFAULTS.save_every_time / 60:g}m].", rich_help_panel=P_EVAL)]
SampleEvery = Annotated[int | None, typer.Option("--sample-every", min=0, help="Show a preview sample every N "
                                                 "evaluations (0: never) [default: 1].", rich_help_panel=P_EVAL)]
MaxBad = Annotated[int | None, typer.Option("--max-bad-steps", min=0, help="Skip up to K non-finite steps in a "
                                            "row before stopping [default: 0].", rich_help_panel=P_TRAIN)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and the final summary.", rich_help_panel=P_OUT)]
Plain = Annotated[bool, typer.Option("--plain", help="One log line per report instead of the live dashboard "
                                     "(automatic when stderr is not a terminal).", rich_help_panel=P_OUT)]
Json = Annotated[bool, typer.Option("--json", help="Events as JSON lines on stderr, for scripts.",
                                    rich_help_panel=P_OUT)]
LogEvery = Annotated[int | None, typer.Option("--log-every", min=1, help=f"Steps between progress reports "
                                              f"[default: {DEFAULTS.log_every}].", rich_help_panel=P_OUT)]
