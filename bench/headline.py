"""Every figure the README and the docs cite, measured again by one command, as one table.

    python bench/headline.py --corpus corpora/tinyshakespeare.txt --austen corpora/austen.txt   # quick: ~6 min
    python bench/headline.py --corpus ... --austen ... --full    # and the long runs: about 1 hour
    python bench/headline.py ... --markdown out.md                           # the table as RESULTS.md opens

Each row is a figure: where it is cited and the value cited there (measured on the machine RESULTS.md
names for it), what this run measured, the yardstick measured in the same run beside it (the plain
PyTorch reference of bench/reference/, a bare interpreter, or the limit the docs promise), and the
command that measures it alone. `--corpus` is tiny shakespeare (`charlstm corpora get
tinyshakespeare`); the rows that need no corpus use the bundled one. Run it on a quiet machine: every
row is timed or trained here. Rows that fail say why and the others still run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import machine

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PYDOCS = ROOT / "corpora" / "pydocs.txt"
STARTER = ROOT / "charlstm" / "assets" / "starter.pt"
AUSTEN: Path | None = None  # --austen
PREVIOUS_STARTER = "776f6f8"  # the commit whose starter (Python docs and Shakespeare) the zero-shot row compares with
CITED = {"tails": "1.1916 / 1.0606", "zero-shot": "1.6305 (0.432 below)", "novel": "0.219 ahead", "code": "0.305 ahead"}


@dataclass
class Row:
    figure: str
    cited: str  # where, and the value there
    measured: str = ""
    yardstick: str = ""
    command: str = ""
    seconds: float = 0.0


def run(cmd: list, cwd: Path = ROOT) -> str:
    """stdout of `cmd` (stderr passed through); a failure raises with its last lines."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: " + " | ".join((proc.stderr or proc.stdout).splitlines()[-3:]))
    return proc.stdout


NAMES: dict[str, str] = {}  # a path as the table shows it: CORPUS, TMP (this run's scratch folder)


def shown(cmd: list) -> str:
    words = ["python" if c == PY else str(c) for c in cmd]
    for path, name in NAMES.items():
        words = [w.replace(path, name) for w in words]
    return " ".join(w.replace(str(ROOT) + "/", "") for w in words)


# ---- quick rows ------------------------------------------------------------------------------------
def train_speed(tmp: Path, corpus: Path) -> Row:
    out = tmp / "train_speed.json"
    cmd = [PY, "bench/train_speed.py", "--corpus", corpus, "--configs", "M", "--rounds", "1", "--precision", "fp32",
           "--json", out]
    run(cmd)
    r = json.loads(out.read_text())["rows"][0]
    return Row("training speed, 2x512 in fp32, charlstm's whole loop", "tests/test_guards.py holds >= 0.80x",
               f"{r['ratio']:.2f}x ({r['charlstm']['chars_per_s']:,.0f} chars/s)",
               f"plain PyTorch loop {r['reference']['chars_per_s']:,.0f} chars/s", shown(cmd))


def sample_speed(tmp: Path, corpus: Path) -> list[Row]:
    out = tmp / "sample_speed.json"
    cmd = [PY, "bench/sample_speed.py", "--config", "M", "--batches", "1", "--paths", "numpy,fast,fp16", "--reps", "3",
           "--reference", "--json", out]
    run(cmd)
    res = [r for r in json.loads(out.read_text())["results"] if r["batch"] == 1]
    speed = {r["impl"]: r["median"] for r in res}
    fast, hand = speed["charlstm fast"], speed["reference hand-written fp32"]
    return [Row("sampling, 2x512, batch 1: the numpy engine against torch's products (the fast engine)",
                "docs/sampling.md: 2.3x (AVX2 EPYC)", f"{speed['charlstm numpy'] / fast:.2f}x "
                f"({speed['charlstm numpy']:,.0f} chars/s)", f"fast engine {fast:,.0f} chars/s", shown(cmd)),
            Row("sampling, 2x512, batch 1: the fp16-weight engine against the fast engine",
                "docs/sampling.md: 1.3-1.5x (AVX2 EPYC)", f"{speed['charlstm fp16'] / fast:.2f}x",
                f"fast engine {fast:,.0f} chars/s", shown(cmd)),
            Row("sampling, 2x512, batch 1: charlstm's default against a hand-written fp32 loop",
                "the guide's target: >= 3x", f"{speed['charlstm numpy'] / hand:.2f}x",
                f"hand-written loop {hand:,.0f} chars/s", shown(cmd))]


def starter_size(tmp: Path, corpus: Path) -> Row:
    mb = STARTER.stat().st_size / 1e6
    return Row("the starter model's file (2x512, fp16 weights)", "docs/finetuning.md: 6.98 MB", f"{mb:.2f} MB",
               "the limit: 8 MB", f"stat {STARTER.relative_to(ROOT)}")


def starter_tails(tmp: Path, corpus: Path) -> Row:
    """The starter on the held-out tails of the texts it read, cut as tools/make_starter.py cuts them."""
    sys.path.insert(0, str(ROOT / "tools"))
    from make_starter import recipe
    if AUSTEN is None:
        raise RuntimeError("needs --austen (charlstm corpora get austen, or the build's copy)")
    files, _ = recipe([PYDOCS, AUSTEN, corpus], tmp / "starter-texts")
    tails = [f for f in files if f.name.endswith("held-out.txt")]
    austen = [f for f in tails if "-austen-" in f.name]
    score = {}
    for name, group in (("together", tails), ("austen", austen)):
        cmd = [PY, "-m", "charlstm", "eval", "starter", *group, "--json"]
        score[name] = json.loads(run(cmd))["nats_per_char"]
    return Row("the starter on its held-out tails: all together / Austen's five (charlstm eval)",
               f"docs/finetuning.md: {CITED['tails']}", f"{score['together']:.4f} / {score['austen']:.4f}",
               "the build asked <= 1.42 / <= 1.38",
               "python -m charlstm eval starter TMP/starter-texts/*-held-out.txt --json (then *-austen-*-held-out.txt)")


def startup(tmp: Path, corpus: Path) -> Row:
    out = tmp / "startup.json"
    cmd = [PY, "bench/startup.py", "--reps", "3", "--json", out]
    run(cmd)
    r = json.loads(out.read_text())
    sample = r["python -m charlstm sample --length 1"]["median"]
    bare = r["python -c pass (yardstick: the interpreter)"]["median"]
    return Row("first character of `charlstm sample` (the starter)", "the guide's target: <= 1.0 s",
               f"{sample:.2f} s", f"a bare interpreter {bare:.2f} s", shown(cmd))


def export_sizes(tmp: Path, corpus: Path) -> Row:
    """docs/sharing.md's sizes: a `medium` model (2x512, embed 128) on the corpus, trained one step, then
    exported each way."""
    train = [PY, "-m", "charlstm", "train", corpus, "--preset", "medium", "--steps", "1", "--eval-chars", "1000",
             "--root", tmp / "sizes", "--name", "medium", "--plain", "--sample-every", "0"]
    run(train)
    run_dir = tmp / "sizes" / "medium"
    made = {}
    for fmt, extra, out in (("pt", [], tmp / "m.pt"), ("pt", ["--half"], tmp / "m-half.pt"),
                            ("onnx", [], tmp / "m.onnx"), ("web", [], tmp / "m-web")):
        run([PY, "-m", "charlstm", "export", run_dir, "--format", fmt, *extra, "-o", out])
        made[out.name] = sum(f.stat().st_size for f in ([out] if out.is_file() else out.rglob("*")) if f.is_file())
    training = (run_dir / "last.pt").stat().st_size
    mb = {k: f"{v / 1e6:.1f}" for k, v in made.items()}
    return Row("export sizes of a 2x512 model: pt / pt --half / onnx / web",
               "docs/sharing.md: 13.8 / 6.9 / 13.9 / 18.5 MB",
               f"{mb['m.pt']} / {mb['m-half.pt']} / {mb['m.onnx']} / {mb['m-web']} MB",
               f"the training checkpoint {training / 1e6:.1f} MB (docs: 42.0)",
               shown(train) + " ; then charlstm export TMP/sizes/medium --format pt|onnx|web [--half]")


# ---- full rows -------------------------------------------------------------------------------------
def quality_row(tmp: Path, corpus: Path, minutes: float, figure: str, cited: str, mark: float) -> Row:
    out = tmp / f"quality-{corpus.stem}-{minutes:g}.json"
    cmd = [PY, "bench/quality.py", "--corpus", corpus, "--budget-min", f"{minutes:g}", "--marks", f"{mark:g}",
           "--reference", "--json", out]
    run(cmd)
    r = json.loads(out.read_text())
    best = min(c["val_loss"] for c in r["charlstm"]["curve"])
    ref = min(c["val_loss"] for c in r["reference"]["curve"])
    return Row(figure, cited, f"{best:.4f} nats/char", f"plain PyTorch LSTM {ref:.4f}", shown(cmd))


def readme_job(tmp: Path, corpus: Path) -> Row:
    return quality_row(tmp, PYDOCS, 2, "the README's main job: 2 minutes on corpora/pydocs.txt, best validation",
                       "README: 1.4749 (AMD EPYC, 2 cores)", 1)


def shakespeare_10m(tmp: Path, corpus: Path) -> Row:
    return quality_row(tmp, corpus, 10, "defaults on tiny shakespeare, 10 minutes, best validation",
                       "docs/training.md: 1.411 AMX Xeon, 1.499 AVX2 EPYC, 1.407 bf16 EPYC "
                       "(plain LSTM 1.462, 1.625, 1.478)", 5)


def finetune_gain(tmp: Path, corpus: Path) -> list[Row]:
    texts = tmp / "ft"
    run([PY, "bench/make_ft_corpora.py", texts])
    cmd = [PY, "bench/finetune.py", "curves", texts / "novel.txt", texts / "code.txt", "--budget-min", "2",
           "--marks", "1", "--repeats", "3"]
    runs = [json.loads(line) for line in run(cmd).splitlines() if line.startswith("{")]
    rows = []
    for name in ("novel", "code"):
        mean = {}
        for start in ("scratch", "starter"):
            got = [at_budget(r) for r in runs if r["corpus"] == f"{name}.txt" and r["start"] == start]
            mean[start] = sum(got) / len(got)
        rows.append(Row(f"fine-tuning the starter for 2 minutes on {'a novel' if name == 'novel' else name} it never "
                        "saw (mean of 3)", f"docs/finetuning.md: {CITED[name]}",
                        f"{mean['scratch'] - mean['starter']:.3f} ahead ({mean['starter']:.4f})",
                        f"from scratch {mean['scratch']:.4f}", shown(cmd)))
    return rows


def at_budget(r: dict) -> float:
    """A curves run's validation loss at its last evaluation (the end of its time budget)."""
    return r["curve"][-1]["val_loss"]


def zero_shot(tmp: Path, corpus: Path) -> Row:
    """The starter on a novel it never read, against the starter it replaced (from git)."""
    texts = tmp / "ft"
    if not (texts / "novel.txt").is_file():
        run([PY, "bench/make_ft_corpora.py", texts])
    old = tmp / "previous-starter.pt"
    old.write_bytes(subprocess.run(["git", "show", f"{PREVIOUS_STARTER}:charlstm/assets/starter.pt"], cwd=ROOT,
                                   capture_output=True, check=True).stdout)
    cmd = [PY, "-m", "charlstm", "eval", "starter", texts / "novel.txt", "--json"]
    new = json.loads(run(cmd))["nats_per_char"]
    before = json.loads(run([PY, "-m", "charlstm", "eval", old, texts / "novel.txt", "--json"]))["nats_per_char"]
    return Row("the starter on a novel it never read (Alice in Wonderland, charlstm eval)",
               f"docs/finetuning.md: {CITED['zero-shot']}", f"{new:.4f} nats/char ({before - new:.3f} below)",
               f"the previous starter ({PREVIOUS_STARTER}) {before:.4f}", shown(cmd))


def dynamic_gain(tmp: Path, corpus: Path) -> Row:
    texts = tmp / "ft"
    if not (texts / "prose.txt").is_file():
        run([PY, "bench/make_ft_corpora.py", texts])
    cmd = [PY, "bench/dynamic.py", "table", "starter", texts / "prose.txt", texts / "code.txt"]
    gains = {}
    for line in run(cmd).splitlines():
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if len(cells) > 5 and cells[0].endswith(".txt"):
            gains[cells[0]] = float(cells[5])
    return Row("dynamic evaluation's gain with the starter (prose, code)", "docs/sampling.md: 0.33, 0.52",
               ", ".join(f"{g:.3f}" for g in gains.values()), "the same model without it (gain 0)", shown(cmd))


QUICK = [train_speed, sample_speed, starter_size, starter_tails, zero_shot, startup, export_sizes]
FULL = [readme_job, finetune_gain, dynamic_gain, shakespeare_10m]


def table(rows: list[Row], host: str) -> str:
    lines = [f"machine: {host}; CORPUS: tiny shakespeare; AUSTEN: austen.txt", "",
             "| figure | cited | measured here | yardstick, same run | command |", "|---|---|---|---|---|"]
    lines += [f"| {r.figure} | {r.cited} | {r.measured} | {r.yardstick} | `{r.command}` |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="tiny shakespeare")
    ap.add_argument("--austen", type=Path, default=None,
                    help="austen.txt, for the starter's held-out tails (charlstm corpora get austen)")
    ap.add_argument("--full", action="store_true", help="also the long runs")
    ap.add_argument("--only", default="", help="comma list of row functions to run (e.g. starter_size)")
    ap.add_argument("--markdown", type=Path, default=None, help="write the table here too")
    args = ap.parse_args()
    global AUSTEN
    AUSTEN = args.austen.resolve() if args.austen else None
    host = machine.line().removeprefix("machine: ")
    chosen = [f for f in QUICK + (FULL if args.full else []) if not args.only or f.__name__ in args.only.split(",")]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as d:
        NAMES.update({str(Path(d)): "TMP", str(args.corpus.resolve()): "CORPUS",
                      **({str(AUSTEN): "AUSTEN"} if AUSTEN else {})})
        for fn in chosen:
            t = time.perf_counter()
            try:
                got = fn(Path(d), args.corpus.resolve())
            except Exception as e:  # one failed row does not stop the others
                got = Row(fn.__name__, "", f"failed: {e}")
            for r in got if isinstance(got, list) else [got]:
                r.seconds = time.perf_counter() - t
                rows.append(r)
                print(f"{r.figure}: {r.measured} ({r.yardstick}; {r.seconds:.0f} s)", flush=True)
    text = table(rows, host)
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
