"""One pass over everything charlstm promises on a CUDA GPU, in under 10 minutes, no network.

Sections (each runs even if an earlier one failed, and reports its own error):
  quality      `charlstm train CORPUS --time 5m` with no other options (sized for the GPU), through
               the CLI; best validation loss and the curve at 1, 2.5 and 5 minutes
  correctness  CUDA forward and loss equal the CPU's within tolerance (TF32 off); a checkpoint
               written on CUDA loads and resumes on the CPU
  throughput   charlstm's training loop vs a plain nn.LSTM loop (same shapes, Adam, clip 5), fp32/TF32
               and bf16, configs M and L and the GPU preset `large`
  sampling     batch 1 and 8 chars/s for the plain, fast and graph paths, and whether they give
               the same text for the same seed

    python bench/gpu_check.py --corpus tinyshakespeare.txt --out results.json [--minutes 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

RESULTS: dict = {}
OUT = {"path": None}


def dump() -> None:
    if OUT["path"]:
        Path(OUT["path"]).write_text(json.dumps(RESULTS, indent=1, default=str))


def section(name):
    def wrap(fn):
        def run(*a, **k):
            t = time.perf_counter()
            print(f"\n== {name} ==", flush=True)
            try:
                RESULTS[name] = fn(*a, **k)
            except Exception as e:  # a broken section must not hide the others
                traceback.print_exc()
                RESULTS[name] = {"error": f"{type(e).__name__}: {e}"}
            RESULTS[name + "_seconds"] = round(time.perf_counter() - t, 1)
            dump()  # after each section, so a run cut short still leaves what it measured
            print(f"-- {name}: {time.perf_counter() - t:.1f}s", flush=True)
        return run
    return wrap


@section("environment")
def environment() -> dict:
    p = torch.cuda.get_device_properties(0)
    env = {"gpu": p.name, "memory_gb": round(p.total_memory / 2**30, 1), "sms": p.multi_processor_count,
           "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
           "bf16": torch.cuda.is_bf16_supported(), "python": sys.version.split()[0]}
    print(env)
    return env


@section("quality")
def quality(corpus: str, minutes: float) -> dict:
    root = Path(tempfile.mkdtemp())
    cmd = [sys.executable, "-m", "charlstm", "train", corpus, "--time", f"{minutes:g}m", "--root", str(root),
           "--name", "q", "--plain"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    print("\n".join(proc.stderr.splitlines()[:12]))
    print("...")
    print("\n".join(proc.stderr.splitlines()[-25:]))
    evals = [json.loads(line) for line in (root / "q" / "metrics.jsonl").read_text().splitlines()
             if '"eval"' in line]
    curve = [(round(e["time"], 1), round(e["val_loss"], 4)) for e in evals]
    best = min(e["val_loss"] for e in evals)
    best_at = next(e for e in evals if e["val_loss"] == best)
    marks = {}
    for m in (1, 2.5, 5):
        seen = [e["val_loss"] for e in evals if e["time"] <= m * 60 + 1e-6]
        marks[f"best_by_{m:g}m"] = round(min(seen), 4) if seen else None
    out = {"command": " ".join(cmd[1:]), "exit": proc.returncode, "wall_s": round(wall, 1),
           "best_val": round(best, 4), "best_at_step": best_at["step"], "best_at_s": round(best_at["time"], 1),
           **marks, "evals": len(evals), "curve": curve,
           "notes": [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith(("note", "size"))]}
    print({k: v for k, v in out.items() if k != "curve"})
    return out


def _evals(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
            if '"eval"' in line]


@section("recipe")
def recipe(corpus: str, minutes: float, small_chars: int, device: str) -> dict:
    """Issue #43's checks in one go: `charlstm train CORPUS --time Xm` with defaults, and the same on the
    first `small_chars` characters, run side by side with the plain reference on that small text (on the
    CPU, as bench/reference/train.py runs). Reports the best validation loss, where in the budget it was
    found, how far the end is from the best, and the reference's loss at the same time."""
    root = Path(tempfile.mkdtemp())
    small = root / "small.txt"
    small.write_text(Path(corpus).read_text(encoding="utf-8")[:small_chars], encoding="utf-8")
    base = [sys.executable, "-m", "charlstm", "train", "--time", f"{minutes:g}m", "--root", str(root), "--plain",
            "--device", device]
    procs = {"full": subprocess.Popen([*base, corpus, "--name", "full"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True),
             "small": subprocess.Popen([*base, str(small), "--name", "small"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True),
             "reference": subprocess.Popen([sys.executable, "bench/reference/train.py", "--corpus", str(small),
                                            "--budget-min", f"{minutes:g}", "--json", str(root / "ref.json"),
                                            "--eval-at", ",".join(f"{minutes * k / 5:g}" for k in range(1, 5))],
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)}
    logs = {k: p.communicate()[0 if k == "reference" else 1] for k, p in procs.items()}
    out = {"minutes": minutes, "small_chars": small_chars, "device": device}
    for name in ("full", "small"):
        evals = _evals(root / name)
        best = min(evals, key=lambda e: e["val_loss"])
        budget = minutes * 60
        out[name] = {"exit": procs[name].returncode, "best_val": round(best["val_loss"], 4),
                     "best_at_s": round(best["time"], 1), "best_in_last_30pct": best["time"] >= 0.7 * budget,
                     "last_val": round(evals[-1]["val_loss"], 4), "last_at_s": round(evals[-1]["time"], 1),
                     "end_minus_best": round(evals[-1]["val_loss"] - best["val_loss"], 4),
                     "started": [line.strip() for line in logs[name].splitlines()[:8]]}
    ref = json.loads((root / "ref.json").read_text(encoding="utf-8")) if (root / "ref.json").is_file() else {}
    out["reference_small"] = {"exit": procs["reference"].returncode, "result": ref,
                              "log_tail": logs["reference"].splitlines()[-3:]}
    ref_val = min((c["val_loss"] for c in ref.get("curve", [])), default=None)  # its best at any mark
    out["checks"] = {"full best <= 1.38": out["full"]["best_val"] <= 1.38,
                     "full best in the last 30% of the budget": out["full"]["best_in_last_30pct"],
                     "small ends within 0.02 of its best": out["small"]["end_minus_best"] <= 0.02,
                     "small best <= reference - 0.05": (ref_val is not None
                                                         and out["small"]["best_val"] <= ref_val - 0.05)}
    print(json.dumps({k: v for k, v in out.items() if k not in ("full", "small")}, indent=1))
    print({k: {kk: vv for kk, vv in v.items() if kk != "started"} for k, v in out.items() if k in ("full", "small")})
    return out


@section("correctness")
def correctness(corpus: str) -> dict:
    from charlstm.config import ModelConfig, TrainConfig
    from charlstm.events import Step, Stopped
    from charlstm.model import CharLSTM
    from charlstm.training.start import resume, train

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    out = {}
    for cell in ("lstm", "gru", "rnn"):
        torch.manual_seed(0)
        m = CharLSTM(ModelConfig(vocab_size=65, cell=cell, hidden=256, layers=2, dropout=0.0)).eval()
        x = torch.randint(65, (8, 100))
        with torch.no_grad():
            a, _ = m(x)
            b, _ = m.cuda()(x.cuda())
        out[f"{cell}_max_abs_diff"] = float((a - b.cpu()).abs().max())
    small = dict(hidden=128, layers=2, embed=32, dropout=0.1)
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(steps=30, batch_size=16, seq_len=64, eval_every=15, sample_every=0, precision="fp32")
        ev = list(train([corpus], small, cfg, run_dir=f"{d}/r", device="cuda"))
        cuda_loss = [e.loss for e in ev if isinstance(e, Step)][-1]
        ev2 = list(resume(f"{d}/r", overrides={"steps": 40}, device="cpu"))
        stop = [e for e in ev2 if isinstance(e, Stopped)][-1]
        out.update(cuda_loss_step30=cuda_loss, resumed_on_cpu_to_step=stop.step, resumed_reason=stop.reason)
        ev3 = list(resume(f"{d}/r", overrides={"steps": 50}, device="cuda"))
        out["resumed_back_on_cuda_to_step"] = [e for e in ev3 if isinstance(e, Stopped)][-1].step
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    out["ok"] = (all(v < 1e-4 for k, v in out.items() if k.endswith("diff")) and out["resumed_on_cpu_to_step"] == 40
                 and out["resumed_back_on_cuda_to_step"] == 50)
    print(out)
    return out


def plain_speed(layers: int, hidden: int, batch: int, seq: int, precision: str, steps: int = 20) -> float:
    """A plain Embedding -> nn.LSTM -> Linear loop: Adam, clip 5, state carried, random data."""
    torch.manual_seed(0)
    emb = torch.nn.Embedding(65, 128).cuda()
    rnn = torch.nn.LSTM(128, hidden, layers, batch_first=True).cuda()
    head = torch.nn.Linear(hidden, 65).cuda()
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=2e-3)
    data = torch.randint(65, (batch, (steps + 6) * seq + 1), device="cuda")
    h = None
    times = []
    for i in range(steps + 5):
        x, y = data[:, i * seq:(i + 1) * seq], data[:, i * seq + 1:(i + 1) * seq + 1]
        torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast("cuda", torch.bfloat16, enabled=precision == "bf16"):
            out, h = rnn(emb(x), h)
            logits = head(out)
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 65), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        h = tuple(s.detach() for s in h)
        loss.item()
        torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - t)
    times.sort()
    return batch * seq / times[len(times) // 2]


def charlstm_speed(corpus: str, layers: int, hidden: int, embed: int, batch: int, seq: int, precision: str,
                   steps: int = 20) -> float:
    from charlstm.config import TrainConfig
    from charlstm.events import Step
    from charlstm.training.start import train

    cfg = TrainConfig(batch_size=batch, seq_len=seq, steps=steps + 5, eval_every=10**9, save_every=None,
                      save_every_time=None, sample_every=0, log_every=1, precision=precision)
    times, last = [], None
    with tempfile.TemporaryDirectory() as d:
        for ev in train([corpus], dict(layers=layers, hidden=hidden, embed=embed, dropout=0.0), cfg,
                        run_dir=f"{d}/r", device="cuda"):
            if isinstance(ev, Step):
                now = time.perf_counter()
                if last is not None and ev.step > 5:
                    times.append(now - last)
                last = now
    times.sort()
    return batch * seq / times[len(times) // 2]


@section("throughput")
def throughput(corpus: str) -> dict:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    rows = []
    for name, (layers, hidden, embed, batch, seq) in {"M": (2, 512, 128, 64, 128), "M-b256": (2, 512, 128, 256, 128),
                                                     "L": (3, 512, 128, 64, 128),
                                                     "large": (3, 1024, 256, 128, 256)}.items():
        for precision in ("fp32", "bf16"):
            ref = plain_speed(layers, hidden, batch, seq, precision)
            ours = charlstm_speed(corpus, layers, hidden, embed, batch, seq, precision)
            row = {"config": name, "precision": precision, "plain_chars_s": round(ref), "charlstm_chars_s": round(ours),
                   "ratio": round(ours / ref, 3)}
            print(row, flush=True)
            rows.append(row)
    return {"rows": rows}


@section("sampling")
def sampling() -> dict:
    from charlstm.config import ModelConfig
    from charlstm.model import CharLSTM
    from charlstm.sampling.generate import SampleConfig, generate, generate_text
    from charlstm.tokenizer import CharTokenizer

    tok = CharTokenizer([chr(32 + i) for i in range(65)])
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=65, embed=128, hidden=512, layers=2, dropout=0.0)).cuda().eval()
    with torch.no_grad():  # sharper distributions than the random init, like a trained model's
        model.head.weight.mul_(8.0)
    rows = []
    for batch in (1, 8):
        for path in ("plain", "fast", "graph"):
            n = 4000 if path != "plain" else 1000
            for _ in generate(model, tok, SampleConfig(length=100, seed=0, num_samples=batch), engine=path):
                pass
            rates = []
            for _ in range(3):
                torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in generate(model, tok, SampleConfig(length=n, seed=1, num_samples=batch), engine=path):
                    pass
                rates.append(batch * n / (time.perf_counter() - t))
            rows.append({"batch": batch, "path": path, "chars_s": round(sorted(rates)[1])})
            print(rows[-1], flush=True)
    same = {}
    for temp in (1.0, 0.8):
        cfg = SampleConfig(length=2000, temperature=temp, seed=7, num_samples=2)
        texts = {p: generate_text(model, tok, cfg, "THE ", engine=p) for p in ("plain", "fast", "graph")}
        same[f"temp{temp:g}"] = {"fast==plain": texts["fast"] == texts["plain"],
                                 "graph==fast": texts["graph"] == texts["fast"],
                                 "first_mismatch_graph_vs_plain": next(
                                     (i for i, (a, b) in enumerate(zip(texts["graph"][0], texts["plain"][0]))
                                      if a != b), None)}
    print(same)
    return {"rows": rows, "same_text": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", default="gpu_check.json")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--skip", default="", help="comma list of sections to skip")
    ap.add_argument("--recipe", action="store_true", help="also run issue #43's checks (see `recipe`)")
    ap.add_argument("--small-chars", type=int, default=150_000, help="the small text of --recipe")
    ap.add_argument("--dry-run-cpu", action="store_true", help="run --recipe's plumbing on the CPU (nothing "
                    "else), to check the script before spending device time; the numbers mean nothing")
    args = ap.parse_args()
    OUT["path"] = args.out
    if args.dry_run_cpu:
        recipe(args.corpus, args.minutes, args.small_chars, "cpu")
        dump()
        return
    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device visible to torch")
    skip = set(args.skip.split(","))
    OUT["path"] = args.out
    t0 = time.perf_counter()
    environment()
    if "sampling" not in skip:
        sampling()
    if "correctness" not in skip:
        correctness(args.corpus)
    if "quality" not in skip:
        quality(args.corpus, args.minutes)
    if args.recipe:
        recipe(args.corpus, args.minutes, args.small_chars, "cuda")
    if "throughput" not in skip:
        throughput(args.corpus)
    RESULTS["total_seconds"] = round(time.perf_counter() - t0, 1)
    dump()
    print(f"\nwrote {args.out} ({RESULTS['total_seconds']}s)")


if __name__ == "__main__":
    main()
