"""Loss curves as a picture (PNG or SVG) from runs' metrics.jsonl, with matplotlib (optional)."""

from __future__ import annotations

from pathlib import Path

from ..errors import CharLSTMError
from ..store import runs
from ..store.files import atomic_write

INSTALL = 'pip install "charlstm[plot]"  (or: pip install matplotlib)'


def read_metrics(run: Path) -> tuple[list[dict], list[dict]]:
    """(train records, eval records) of a run folder (unreadable lines are skipped)."""
    if not (Path(run) / runs.METRICS).is_file():
        raise CharLSTMError(f"{run} has no {runs.METRICS}: is it a charlstm run folder?")
    rows, _ = runs.read_metrics(Path(run))
    return [r for r in rows if r.get("kind") == "train"], [r for r in rows if r.get("kind") == "eval"]


def plot_runs(runs: list[Path], output: Path, x: str = "step") -> None:
    """One chart, written atomically to `output`: each run's train loss (thin line) and validation
    loss (dots), in nats/char."""
    if output.suffix.lower() not in (".png", ".svg"):
        raise CharLSTMError(f"--output must end in .png or .svg, not {output.name!r}")
    data = [(Path(r), *read_metrics(r)) for r in runs]  # read (and fail) before importing matplotlib
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CharLSTMError(f"plotting needs matplotlib, which is not installed: {INSTALL}") from None
    key = "step" if x == "step" else "time"
    scale = 1.0 if x == "step" else 1 / 60
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for i, (run, train, evals) in enumerate(data):
        color = f"C{i % 10}"
        if train:
            ax.plot([r[key] * scale for r in train], [r["loss"] for r in train], color=color, alpha=0.45,
                    linewidth=1, label=f"{run.name} train")
        if evals:
            ax.plot([r[key] * scale for r in evals], [r["val_loss"] for r in evals], "o-", color=color,
                    markersize=3, linewidth=1.5, label=f"{run.name} val")
    ax.set_xlabel("step" if x == "step" else "minutes of training")
    ax.set_ylabel("loss (nats/char)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(output) as f:  # the output is replaced only once the picture is complete
            fig.savefig(f, format=output.suffix.lower().lstrip("."))
    finally:
        plt.close(fig)
