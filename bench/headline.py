"""Every figure the README and the docs cite, measured again by one command, as one table.

    python bench/headline.py --corpus corpora/tinyshakespeare.txt --austen corpora/austen.txt   # quick: ~12 min
    python bench/headline.py --corpus ... --austen ... --full    # and the long runs: 70 minutes in all
    python bench/headline.py ... --markdown out.md                           # the table as RESULTS.md opens

Each row is a figure: where it is cited and the value cited there (measured on the machine RESULTS.md
names for it), what this run measured, the yardstick measured in the same run beside it (the plain
PyTorch reference of bench/reference/, a bare interpreter, or the limit the docs promise), and the
command that measures it alone. `--corpus` is tiny shakespeare (`charlstm corpora get
tinyshakespeare`); the rows that need no corpus use the bundled one. Run it on a quiet machine: every
row is timed or trained here. Rows that fail say why and the others still run; a row that needs
hardware this machine lacks (the GPU's) says "not measured here".
"""

from __future__ import annotations

import argparse
import json
import re
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
# Each figure where the README and the docs cite it: (the file, the value as it is written there). Every
# number in the value appears in that file (tests/test_headline.py), so a figure changed in the docs is
# changed here too.
CITES = {
    "train": ("tests/test_guards.py", ">= 0.80x"),
    "numpy": ("docs/sampling.md", "1.7-2.3x (AVX2 EPYC)"),
    "fp16": ("docs/sampling.md", "1.0-1.5x at batch 1, 2-2.6x at batch 8 (AVX2 EPYC)"),
    "starter-size": ("docs/finetuning.md", "6.98 MB"),
    "tails": ("docs/finetuning.md", "1.1916 / 1.0606 / 1.4612 / 1.4775"),
    "novelty": ("docs/finetuning.md", "1% of 20-grams"),
    "storage": ("docs/finetuning.md", "+0.0005"),
    "zero-shot": ("docs/finetuning.md", "1.6305 (the previous starter 2.0629)"),
    "export": ("docs/sharing.md", "13.8 / 6.9 / 13.9 / 18.5 MB"),
    "readme": ("README.md", "1.4749 (AMD EPYC with avx512_bf16, 2 cores; 2,065 steps)"),
    "novel": ("docs/finetuning.md", "0.19-0.22 ahead"),
    "code": ("docs/finetuning.md", "0.31-0.35 ahead"),
    "dynamic": ("docs/sampling.md", "0.30, 0.53"),
    "lanes": ("docs/sampling.md", "5.1-5.6 times"),
    "dynamic-cost": ("docs/sampling.md", "1.3 times AVX2 EPYC, 2.1 bf16 EPYC; with the static pass 1.7, 2.8"),
    "10m": ("docs/training.md", "1.411 AMX Xeon, 1.428 AVX2 EPYC, 1.407 bf16 EPYC (plain LSTM 1.462, 1.508, 1.478)"),
    "gpu-sampling": ("docs/sampling.md", "17,000 against 3,400 chars/s (H200)"),
}


def cited(key: str) -> str:
    where, value = CITES[key]
    return f"{where}: {value}"


class NotHere(Exception):
    """A row this machine cannot measure (it needs hardware that is not here): NotHere(the row, saying why)."""


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


def ft_texts(tmp: Path) -> Path:
    """bench/make_ft_corpora.py's texts (a novel, prose and code the starter never read), made once per run."""
    texts = tmp / "ft"
    if not (texts / "prose.txt").is_file():
        run([PY, "bench/make_ft_corpora.py", texts])
    return texts


# ---- quick rows ------------------------------------------------------------------------------------
def train_speed(tmp: Path, corpus: Path) -> Row:
    out = tmp / "train_speed.json"
    cmd = [PY, "bench/train_speed.py", "--corpus", corpus, "--configs", "M", "--rounds", "1", "--precision", "fp32",
           "--json", out]
    run(cmd)
    r = json.loads(out.read_text())["rows"][0]
    return Row("training speed, 2x512 in fp32, charlstm's whole loop", cited("train"),
               f"{r['ratio']:.2f}x ({r['charlstm']['chars_per_s']:,.0f} chars/s)",
               f"plain PyTorch loop {r['reference']['chars_per_s']:,.0f} chars/s", shown(cmd))


def sample_speed(tmp: Path, corpus: Path) -> list[Row]:
    out = tmp / "sample_speed.json"
    cmd = [PY, "bench/sample_speed.py", "--config", "M", "--batches", "1,8", "--paths", "numpy,fast,fp16",
           "--reps", "3", "--reference", "--json", out]
    run(cmd)
    res = json.loads(out.read_text())["results"]
    speed = {r["impl"]: r["median"] for r in res if r["batch"] == 1}
    at8 = {r["impl"]: r["median"] for r in res if r["batch"] == 8}
    fast, hand = speed["charlstm fast"], speed["reference hand-written fp32"]
    return [Row("sampling, 2x512, batch 1: the numpy engine against torch's products (the fast engine)",
                cited("numpy"), f"{speed['charlstm numpy'] / fast:.2f}x "
                f"({speed['charlstm numpy']:,.0f} chars/s)", f"fast engine {fast:,.0f} chars/s", shown(cmd)),
            Row("sampling, 2x512: the fp16-weight engine against the fast engine, batch 1 / batch 8",
                cited("fp16"),
                f"{speed['charlstm fp16'] / fast:.2f}x / {at8['charlstm fp16'] / at8['charlstm fast']:.2f}x",
                f"fast engine {fast:,.0f} / {at8['charlstm fast']:,.0f} chars/s", shown(cmd)),
            Row("sampling, 2x512, batch 1: charlstm's default against a hand-written fp32 loop",
                "the guide's target: >= 3x", f"{speed['charlstm numpy'] / hand:.2f}x",
                f"hand-written loop {hand:,.0f} chars/s", shown(cmd))]


def starter_size(tmp: Path, corpus: Path) -> Row:
    mb = STARTER.stat().st_size / 1e6
    return Row("the starter model's file (2x512, fp16 weights)", cited("starter-size"), f"{mb:.2f} MB",
               "the limit: 8 MB", f"stat {STARTER.relative_to(ROOT)}")


def starter_texts(tmp: Path, corpus: Path) -> list[Path]:
    """The texts the starter read, cut as tools/make_starter.py cuts them (heads, then held-out tails)."""
    sys.path.insert(0, str(ROOT / "tools"))
    from make_starter import recipe
    if AUSTEN is None:
        raise RuntimeError("needs --austen (charlstm corpora get austen, or the build's copy)")
    folder = tmp / "starter-texts"
    if not folder.is_dir():
        recipe([PYDOCS, AUSTEN, corpus], folder)
    return sorted(folder.glob("*.txt"))


def starter_tails(tmp: Path, corpus: Path) -> Row:
    """The starter on the held-out tails of what it read: together, Austen's, Shakespeare's, the docstrings'."""
    tails = [f for f in starter_texts(tmp, corpus) if f.name.endswith("held-out.txt")]
    groups = {"together": tails, "austen": [f for f in tails if "-austen-" in f.name],
              "shakespeare": [f for f in tails if "-tinyshakespeare-" in f.name],
              "docstrings": [f for f in tails if "-pydocs-" in f.name]}
    score = {name: json.loads(run([PY, "-m", "charlstm", "eval", "starter", *group, "--json"]))["nats_per_char"]
             for name, group in groups.items()}
    return Row("the starter on its held-out tails: all together / Austen's five / Shakespeare's / the docstrings' "
               "(charlstm eval)", cited("tails"), " / ".join(f"{v:.4f}" for v in score.values()),
               "the build asked <= 1.42 together, <= 1.38 Austen's",
               "python -m charlstm eval starter TMP/starter-texts/*-held-out.txt --json (then each group's)")


def starter_novelty(tmp: Path, corpus: Path) -> Row:
    """How much of the starter's writing is copied: the share of the 20-grams of 3,000 sampled characters
    (temperature 0.8, seed 1) found in the text it trained on, counted as `charlstm sample --novelty` counts."""
    import numpy as np

    from charlstm import api
    from charlstm.sampling.novelty import copied_share, ngram_hashes
    heads = [f for f in starter_texts(tmp, corpus) if not f.name.endswith("held-out.txt")]
    cmd = [PY, "-m", "charlstm", "sample", "starter", "-n", "3000", "--temp", "0.8", "--seed", "1"]
    text = run(cmd)
    _, tok = api.load("starter")
    ids = lambda t: np.asarray(tok.encode(t, skip_unknown=True), dtype=np.int64)  # noqa: E731
    trained = np.concatenate([ids(f.read_text(encoding="utf-8")) for f in heads])
    share = {n: copied_share(ids(text), ngram_hashes(trained, n), n)[0] for n in (5, 10, 20)}
    return Row("the starter's writing: the share of its 20-grams found in its training text (temperature 0.8)",
               cited("novelty"), f"{share[20]:.0%} of 20-grams",
               f"5-grams {share[5]:.0%}, 10-grams {share[10]:.0%} (a memorising model: near 100%)",
               shown(cmd) + " ; counted against TMP/starter-texts' heads as --novelty counts")


def storage_bits(tmp: Path, corpus: Path) -> Row:
    """The starter's loss on its tails with its weights rounded to 8 bits, against the fp16 it ships in."""
    tails = [f for f in starter_texts(tmp, corpus) if f.name.endswith("held-out.txt")]
    cmd = [PY, "bench/storage_bits.py", "starter", *tails]
    got = {}
    for line in run(cmd).splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0] in ("fp16", "int8"):
            got[cells[0]] = float(cells[3])
    return Row("the starter's weights stored in 8 bits (one scale per row), on its held-out tails",
               cited("storage"), f"{got['int8'] - got['fp16']:+.4f} nats/char",
               f"the fp16 weights it ships in, {got['fp16']:.4f}",
               "python bench/storage_bits.py starter TMP/starter-texts/*-held-out.txt")


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
               cited("export"),
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
    mine = r["charlstm"]
    best = min(c["val_loss"] for c in mine["curve"])
    ref = min(c["val_loss"] for c in r["reference"]["curve"])
    shape = f"{mine['model']['layers']}x{mine['model']['hidden']}, {mine['curve'][-1]['step']:,} steps"
    return Row(figure, cited, f"{best:.4f} nats/char ({shape})", f"plain PyTorch LSTM {ref:.4f}", shown(cmd))


def readme_job(tmp: Path, corpus: Path) -> Row:
    return quality_row(tmp, PYDOCS, 2, "the README's main job: 2 minutes on corpora/pydocs.txt, best validation",
                       cited("readme"), 1)


def shakespeare_10m(tmp: Path, corpus: Path) -> Row:
    return quality_row(tmp, corpus, 10, "defaults on tiny shakespeare, 10 minutes, best validation",
                       cited("10m"), 5)


def finetune_gain(tmp: Path, corpus: Path) -> list[Row]:
    texts = ft_texts(tmp)
    cmd = [PY, "bench/finetune.py", "curves", texts / "novel.txt", texts / "code.txt", "--budget-min", "2",
           "--marks", "1", "--repeats", "3"]
    runs = [json.loads(line) for line in run(cmd).splitlines() if line.startswith("{")]
    rows = []
    for name in ("novel", "code"):
        mean, each = {}, {}
        for start in ("scratch", "starter"):
            mine = [r for r in runs if r["corpus"] == f"{name}.txt" and r["start"] == start]
            mean[start] = sum(map(at_budget, mine)) / len(mine)
            each[start] = ", ".join(f"{at_budget(r):.4f} at batch {r['train']['batch_size']}" for r in mine)
        rows.append(Row(f"fine-tuning the starter for 2 minutes on {'a novel' if name == 'novel' else name} it never "
                        "saw (mean of 3)", cited(name),
                        f"{mean['scratch'] - mean['starter']:.3f} ahead ({mean['starter']:.4f}: {each['starter']})",
                        f"from scratch {mean['scratch']:.4f} ({each['scratch']})", shown(cmd)))
    return rows


def at_budget(r: dict) -> float:
    """A curves run's validation loss at its last evaluation (the end of its time budget)."""
    return r["curve"][-1]["val_loss"]


def zero_shot(tmp: Path, corpus: Path) -> Row:
    """The starter on a novel it never read, against the starter it replaced (from git)."""
    texts = ft_texts(tmp)
    old = tmp / "previous-starter.pt"
    old.write_bytes(subprocess.run(["git", "show", f"{PREVIOUS_STARTER}:charlstm/assets/starter.pt"], cwd=ROOT,
                                   capture_output=True, check=True).stdout)
    cmd = [PY, "-m", "charlstm", "eval", "starter", texts / "novel.txt", "--json"]
    new = json.loads(run(cmd))["nats_per_char"]
    before = json.loads(run([PY, "-m", "charlstm", "eval", old, texts / "novel.txt", "--json"]))["nats_per_char"]
    return Row("the starter on a novel it never read (Alice in Wonderland, charlstm eval)",
               cited("zero-shot"), f"{new:.4f} nats/char ({before - new:.3f} below)",
               f"the previous starter ({PREVIOUS_STARTER}) {before:.4f}", shown(cmd))


def dynamic_gain(tmp: Path, corpus: Path) -> Row:
    texts = ft_texts(tmp)
    cmd = [PY, "bench/dynamic.py", "table", "starter", texts / "prose.txt", texts / "code.txt"]
    gains = {}
    for line in run(cmd).splitlines():
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if len(cells) > 5 and cells[0].endswith(".txt"):
            gains[cells[0]] = float(cells[5])
    return Row("dynamic evaluation's gain with the starter (prose, code; nats/char)", cited("dynamic"),
               ", ".join(f"{g:.3f}" for g in gains.values()), "the same model without it (gain 0)", shown(cmd))


def dynamic_lanes(tmp: Path, corpus: Path) -> Row:
    """Dynamic evaluation's speed in 8 lanes (the default) against one lane (the paper's order)."""
    texts = ft_texts(tmp)
    cmd = [PY, "bench/dynamic.py", "speed", "starter", texts / "prose.txt", texts / "code.txt", "--lanes-list", "1,8"]
    rate = {}
    for line in run(cmd).splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 3 and cells[0].isdigit():
            rate[int(cells[0])] = float(cells[2].replace(",", ""))
    return Row("dynamic evaluation in 8 lanes against one lane, characters a second", cited("lanes"),
               f"{rate[8] / rate[1]:.1f} times ({rate[8]:,.0f} chars/s)", f"one lane {rate[1]:,.0f} chars/s",
               shown(cmd))


COST = re.compile(r"dynamic pass ([\d.]+)s .*static pass ([\d.]+)s; training the same model on them ([\d.]+)s")


def dynamic_cost(tmp: Path, corpus: Path) -> Row:
    """The dynamic pass's time against training the same model on the same characters (and eval
    --dynamic's, which adds a static pass); peak memory as the text grows."""
    texts = ft_texts(tmp)
    cmd = [PY, "bench/dynamic.py", "cost", "starter", texts / "prose.txt"]
    out = run(cmd)
    dyn, static, train = map(float, COST.search(out).groups())
    peaks = re.findall(r"peak RSS (\d+) MB", out)
    return Row("dynamic evaluation's time against training on the same characters: the dynamic pass; with the "
               "static pass (eval --dynamic)", cited("dynamic-cost"),
               f"{dyn / train:.1f} times; {(dyn + static) / train:.1f} times",
               f"training {train:.1f} s on 100,000 characters; peak memory {' / '.join(peaks)} MB "
               "for a quarter / half / all of them", shown(cmd))


def gpu_sampling(tmp: Path, corpus: Path) -> Row:
    """On a CUDA GPU: sampling at batch 1 with the steps replayed as a CUDA graph, against the model's
    own eager steps (bench/gpu_check.py's sampling section)."""
    import torch
    out = tmp / "gpu_check.json"
    cmd = [PY, "bench/gpu_check.py", "--corpus", corpus, "--out", out, "--skip", "correctness,quality,throughput"]
    if not torch.cuda.is_available():
        raise NotHere(Row("sampling on a CUDA GPU, 2x512, batch 1: CUDA graph", cited("gpu-sampling"),
                          "not measured here: needs a CUDA GPU", "the model's eager steps", shown(cmd)))
    run(cmd)
    rate = {r["path"]: r["chars_s"] for r in json.loads(out.read_text())["sampling"]["rows"] if r["batch"] == 1}
    return Row(f"sampling on {torch.cuda.get_device_name()}, 2x512, batch 1: CUDA graph", cited("gpu-sampling"),
               f"{rate['graph']:,} chars/s ({rate['graph'] / rate['plain']:.1f}x)",
               f"the model's eager steps {rate['plain']:,} chars/s", shown(cmd))


QUICK = [train_speed, sample_speed, starter_size, starter_tails, starter_novelty, storage_bits, zero_shot, startup,
         export_sizes, gpu_sampling]
FULL = [readme_job, finetune_gain, dynamic_gain, dynamic_lanes, dynamic_cost, shakespeare_10m]


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
            except NotHere as e:
                got = e.args[0]
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
