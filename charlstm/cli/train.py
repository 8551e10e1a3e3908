"""`charlstm train` and `charlstm resume`: option parsing, then the library's training loop."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..config import TrainConfig
from ..training.schedule import PLATEAU_FACTOR
from ..training.schedule import WHAT as schedule_words
from ..training.sizing import FEW_PASSES, FINE_TUNE, MANY_PASSES, STRONG
from ..values import MAX_SEED
from .common import StopFlag, budget_options, progress_factory, run_training, save_every_options
from .options import (
    DEFAULTS,
    P_EVAL,
    P_INPUT,
    P_MODEL,
    P_RUN,
    P_TRAIN,
    Cell,
    Device,
    Epochs,
    Errors,
    EvalEvery,
    Json,
    KeptEpochs,
    KeptEvalEvery,
    KeptLogEvery,
    KeptMaxBad,
    KeptPrecision,
    KeptSampleEvery,
    KeptSaveEvery,
    KeptSteps,
    KeptTime,
    LogEvery,
    MaxBad,
    Newline,
    Normalization,
    Optimizer,
    Plain,
    Precision,
    PrecisionKind,
    Preset,
    Quiet,
    Root,
    RunArg,
    SampleEvery,
    SaveEvery,
    Schedule,
    Steps,
    Threads,
    Time,
    VocabMode,
    check_encoding,
    check_finite,
    check_name,
    unescape,
)

SIZED = "from --preset"
SCHEDULE_DEFAULT = (DEFAULTS.schedule if FINE_TUNE["schedule"] == DEFAULTS.schedule
                    else f"{DEFAULTS.schedule}; {FINE_TUNE['schedule']} with --init-from")


def train(
    corpus: Annotated[list[Path], typer.Argument(help="Text files and/or directories to train on; wildcards "
                                                 "such as data/*.txt are expanded where the shell did not.",
                                                 show_default=False)],
    name: Annotated[str | None, typer.Option("--name", callback=check_name, help="Run name (folder under --root).",
                                             show_default="corpus name + date", rich_help_panel=P_RUN)] = None,
    root: Root = Path("checkpoints"),
    init_from: Annotated[str | None, typer.Option("--init-from", help="Start from a trained model: a run name, run "
                                                  "folder or checkpoint file, or 'starter' (the model in the box). "
                                                  "Its size comes with it; the optimizer starts fresh.",
                                                  rich_help_panel=P_MODEL, show_default="a new model")] = None,
    vocab: Annotated[VocabMode, typer.Option("--vocab", help="With --init-from, characters the model never saw: "
                                             "extend (append them; old ids kept), strict (refuse) or map (read "
                                             "them as --map-to).", rich_help_panel=P_MODEL)] = VocabMode.extend,
    map_to: Annotated[str | None, typer.Option("--map-to", help="With --vocab map: the known character unseen ones "
                                               "are read as, e.g. ' ' or '?' (\\n, \\t understood).",
                                               rich_help_panel=P_MODEL, show_default="none")] = None,
    cell: Annotated[Cell | None, typer.Option("--cell", help="Recurrent cell: lstm, gru or rnn.",
                                              rich_help_panel=P_MODEL, show_default="lstm")] = None,
    preset: Annotated[Preset, typer.Option("--preset", help="Model and batch size: auto (chosen from the corpus "
                                        "size, --time and the device, with the reason shown), tiny, small, "
                                        "medium or large. Options below override single values.",
                                        rich_help_panel=P_MODEL)] = Preset.auto,
    layers: Annotated[int | None, typer.Option("--layers", min=1, help="Stacked recurrent layers.",
                                               rich_help_panel=P_MODEL, show_default=SIZED)] = None,
    hidden: Annotated[int | None, typer.Option("--hidden", min=1, help="Hidden (and cell) state size per layer.",
                                               rich_help_panel=P_MODEL, show_default=SIZED)] = None,
    embed: Annotated[int | None, typer.Option("--embed", min=1, help="Character embedding size.",
                                              rich_help_panel=P_MODEL, show_default=SIZED)] = None,
    dropout: Annotated[float | None, typer.Option("--dropout", min=0.0, max=0.99, help="Dropout between layers and "
                                                  "before the output layer: the preset's, raised to "
                                                  f"{STRONG['dropout']:g} when the run reads its text "
                                                  f"{MANY_PASSES:g} times or more.", rich_help_panel=P_MODEL,
                                                  callback=check_finite, show_default=SIZED)] = None,
    weight_drop: Annotated[float | None, typer.Option("--weight-drop", min=0.0, max=0.99, help="Fraction of the "
                                                      "hidden-to-hidden weights zeroed for each training window "
                                                      "(DropConnect): 0 when the run reads its text fewer "
                                                      f"than {FEW_PASSES:g} times, the preset's value from "
                                                      f"there, at least {STRONG['weight_drop']:g} from "
                                                      f"{MANY_PASSES:g} times.",
                                                      callback=check_finite, rich_help_panel=P_MODEL,
                                                      show_default=SIZED)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", "-b", min=1, help="Parallel lanes of text (B). "
                                                   "Sized on a CPU with --time: halved while the budget "
                                                   "leaves few steps and the half trains nearly as fast.",
                                                   rich_help_panel=P_TRAIN, show_default=SIZED)] = None,
    seq_len: Annotated[int | None, typer.Option("--seq-len", min=1, help="Characters per window: how far gradients "
                                                "flow back (T).", rich_help_panel=P_TRAIN,
                                                show_default=SIZED)] = None,
    lr: Annotated[float | None, typer.Option("--lr", min=0.0, callback=check_finite, help="Peak learning rate.",
                                             rich_help_panel=P_TRAIN, show_default=SIZED)] = None,
    min_lr: Annotated[float, typer.Option("--min-lr", min=0.0, help="Learning rate at the end of cosine/wsd "
                                          "decay.", callback=check_finite, rich_help_panel=P_TRAIN)] = DEFAULTS.min_lr,
    schedule: Annotated[Schedule | None, typer.Option("--schedule", help=", ".join(f"{k} ({v})" for k, v in
                                                                                  schedule_words.items()) + ".",
                                                 rich_help_panel=P_TRAIN,
                                                 show_default=SCHEDULE_DEFAULT)] = None,
    warmup: Annotated[int | None, typer.Option("--warmup", min=0, help="Steps of linear learning-rate warm-up.",
                                               rich_help_panel=P_TRAIN,
                                               show_default=f"{DEFAULTS.warmup}; {FINE_TUNE['warmup']} with "
                                                            "--init-from")] = None,
    optimizer: Annotated[Optimizer, typer.Option("--optimizer", help="adamw or adam.",
                                                 rich_help_panel=P_TRAIN)] = Optimizer(DEFAULTS.optimizer),
    weight_decay: Annotated[float | None, typer.Option("--weight-decay", min=0.0, help="Decoupled weight decay on "
                                                       "weight matrices.", rich_help_panel=P_TRAIN,
                                                       callback=check_finite, show_default=SIZED)] = None,
    plateau: Annotated[int | None, typer.Option("--plateau", min=0, help=f"Cut the learning rate {PLATEAU_FACTOR:g}x "
                                                "after this many evaluations without a better validation loss, "
                                                "never below --min-lr (0: never cut).",
                                                rich_help_panel=P_TRAIN, show_default=SIZED)] = None,
    patience: Annotated[int, typer.Option("--patience", min=0, help="Stop early after this many evaluations "
                                          "without a better validation loss (0: never).",
                                          rich_help_panel=P_EVAL)] = DEFAULTS.patience,
    clip: Annotated[float, typer.Option("--clip", min=0.0, help="Clip the global gradient norm to this "
                                        "(0: off).", callback=check_finite, rich_help_panel=P_TRAIN)] = DEFAULTS.clip,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same run on the CPU).",
                                      min=0, max=MAX_SEED, rich_help_panel=P_TRAIN)] = DEFAULTS.seed,
    max_bad_steps: MaxBad = DEFAULTS.max_bad_steps,
    steps: Steps = None,
    epochs: Epochs = None,
    time: Time = None,
    eval_every: EvalEvery = DEFAULTS.eval_every,
    eval_chars: Annotated[int, typer.Option("--eval-chars", min=0, help="Validation characters per evaluation "
                                            "(0: all).", rich_help_panel=P_EVAL)] = DEFAULTS.eval_chars,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Last fraction of the text held out "
                                                "for validation.", callback=check_finite,
                                                rich_help_panel=P_EVAL)] = DEFAULTS.val_fraction,
    save_every: SaveEvery = None,
    sample_every: SampleEvery = DEFAULTS.sample_every,
    encoding: Annotated[str, typer.Option("--encoding", help="Text encoding of the corpus files.",
                                          callback=check_encoding, rich_help_panel=P_INPUT)] = "utf-8",
    errors: Annotated[Errors, typer.Option("--errors", help="Invalid bytes: strict (stop with the byte offset), "
                                           "replace or ignore.", rich_help_panel=P_INPUT)] = Errors.strict,
    newline: Annotated[Newline, typer.Option("--newline", help="lf (turn \\r\\n and \\r into \\n) or keep.",
                                             rich_help_panel=P_INPUT)] = Newline.lf,
    normalization: Annotated[Normalization | None, typer.Option("--normalization", help="Unicode normalization: "
                                                                "NFC, NFKC or none.", case_sensitive=False,
                                                                rich_help_panel=P_INPUT,
                                                                show_default="NFC; the model's with --init-from")
                             ] = None,
    max_vocab: Annotated[int, typer.Option("--max-vocab", min=2, help="Refuse corpora with more distinct "
                                           "characters than this.", rich_help_panel=P_INPUT)] = DEFAULTS.max_vocab,
    pattern: Annotated[str, typer.Option("--pattern", help="File-name glob for files inside directories, "
                                         "e.g. '*.txt'.", rich_help_panel=P_INPUT)] = "*",
    styles: Annotated[str | None, typer.Option("--styles", help="Label the text by style, to sample in one later "
                                               "(sample --style): 'folder' (each sub-folder of CORPUS is a style), "
                                               "'file' (each file is one), or a mapping file of lines "
                                               "'STYLE: GLOB ...'. Each style's own tail is held out and scored.",
                                               rich_help_panel=P_INPUT, show_default="no styles")] = None,
    style_embed: Annotated[int | None, typer.Option("--style-embed", min=1, help="With --styles: the size of each "
                                                    "style's learned vector, read beside every character.",
                                                    rich_help_panel=P_MODEL, show_default="16")] = None,
    device: Device = "auto",
    precision: Precision = PrecisionKind.auto,
    threads: Threads = None,
    quiet: Quiet = False,
    plain: Plain = False,
    json_lines: Json = False,
    log_every: LogEvery = DEFAULTS.log_every,
) -> None:
    """Train a new model on CORPUS (files or directories of text).

    Shows live progress, evaluates on the last --val-fraction of the text, previews generated
    text, and writes checkpoints to ROOT/NAME/ (last.pt, best.pt, metrics.jsonl).

    Example: [bold]charlstm train corpora/pydocs.txt --time 5m[/]

    Fine-tune: [bold]charlstm train lyrics.txt --init-from starter[/] (new characters are added;
    the model is scored on the new text before the first step).

    Styles: [bold]charlstm train mixed/ --styles folder[/], then [bold]charlstm sample --style verse[/].
    """
    from ..data.textfiles import ReadOptions
    from ..training.start import train as run_train

    sized = _given(batch_size=batch_size, seq_len=seq_len, lr=lr, weight_decay=weight_decay, plateau=plateau,
                   schedule=schedule, warmup=warmup)
    logged = _given(eval_every=eval_every, sample_every=sample_every, max_bad_steps=max_bad_steps,
                    log_every=log_every, precision=precision)
    cfg = TrainConfig(optimizer=optimizer.value, min_lr=min(min_lr, lr or min_lr), clip=clip, seed=seed,
                      eval_chars=eval_chars or None, max_vocab=max_vocab, val_fraction=val_fraction,
                      patience=patience, **sized, **budget_options(steps, epochs, time),
                      **save_every_options(save_every), **logged)
    opts = ReadOptions(encoding=encoding, errors=errors.value, newline=newline.value,
                       normalization=normalization.value if normalization else "NFC", pattern=pattern)
    model = _given(cell=cell, layers=layers, hidden=hidden, embed=embed, dropout=dropout, weight_drop=weight_drop,
                   style_embed=style_embed)
    flag = StopFlag()
    with flag.installed():
        events = run_train(corpus, model, cfg, run_dir=root / name if name else None, root=root,
                           read_options=opts, device=device, threads=threads, should_stop=flag,
                           progress=progress_factory(quiet or json_lines), preset=preset.value,
                           keep=set(sized) | ({"normalization"} if normalization else set()),
                           init_from=init_from, vocab=vocab.value,
                           map_to=unescape(map_to) if map_to is not None else None, styles=styles)
        run_training(events, quiet, plain, json_lines, flag)


def _given(**options) -> dict:
    """The options the user gave, by name (a choice as its word); those left out (None) are for the
    preset or the library's defaults to fill in."""
    return {k: v.value if isinstance(v, Enum) else v for k, v in options.items() if v is not None}


def resume(
    target: RunArg = None,
    root: Root = Path("checkpoints"),
    steps: KeptSteps = None,
    epochs: KeptEpochs = None,
    time: KeptTime = None,
    eval_every: KeptEvalEvery = None,
    save_every: KeptSaveEvery = None,
    sample_every: KeptSampleEvery = None,
    max_bad_steps: KeptMaxBad = None,
    device: Device = "auto",
    precision: KeptPrecision = None,
    threads: Threads = None,
    quiet: Quiet = False,
    plain: Plain = False,
    json_lines: Json = False,
    log_every: KeptLogEvery = None,
) -> None:
    """Continue a run exactly where it stopped: same weights, optimizer, schedule, data position,
    hidden state and random state.

    --steps/--epochs/--time set a new total budget for the run (counted from its start), so
    [bold]charlstm resume --steps 5000[/] trains a 2000-step run for 3000 more steps.
    """
    from ..training.start import resume as run_resume
    overrides = dict(**budget_options(steps, epochs, time), **save_every_options(save_every), eval_every=eval_every,
                     sample_every=sample_every, max_bad_steps=max_bad_steps, log_every=log_every,
                     precision=precision.value if precision else None)
    flag = StopFlag()
    with flag.installed():
        events = run_resume(target, root, overrides, device=device, threads=threads, should_stop=flag,
                            progress=progress_factory(quiet or json_lines))
        run_training(events, quiet, plain, json_lines, flag)
