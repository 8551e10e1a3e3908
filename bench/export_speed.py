"""Sampling speed of the exported model at batch 1: `charlstm sample`'s loop, the torch-free ONNX
sampler's loop (charlstm/assets/sample_onnx.py on onnxruntime) and, with --web, the exported page
in headless Chromium.

Builds a model of the given shape with random weights (speed does not depend on training), exports
it, and times --n characters at temperature 1 (the page: 0.8) after a warm-up, reporting chars/s
(median, min, max over --reps; the page: one run). Model loading and export are not timed. Run it
on a quiet machine: the three numbers are only comparable from the same session.

    python bench/export_speed.py --config M --threads 2 --web
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import machine
import onnxruntime as ort
import torch

from charlstm.config import ModelConfig, TrainConfig
from charlstm.export.onnxfile import SAMPLER, export_onnx
from charlstm.export.webpage import export_web
from charlstm.model import CharLSTM
from charlstm.sampling.generate import SampleConfig, generate
from charlstm.tokenizer import CharTokenizer

SHAPES = {"tiny": (1, 32, 16), "S": (2, 128, 128), "M": (2, 512, 128), "L": (3, 512, 128)}  # layers, hidden, embed


def stats(rates: list[float]) -> dict:
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def torch_rate(model, tok, n: int, reps: int) -> dict:
    for _ in generate(model, tok, SampleConfig(length=200, seed=0), engine="fast"):
        pass
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in generate(model, tok, SampleConfig(length=n, temperature=1.0, seed=0), engine="fast"):
            pass
        rates.append(n / (time.perf_counter() - t))
    return stats(rates)


def onnx_rate(path: Path, n: int, reps: int, threads: int | None) -> dict:
    spec = importlib.util.spec_from_file_location("sample_onnx", SAMPLER)
    sampler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sampler)
    model = sampler.Model(str(path), threads)
    for _ in sampler.generate(model, "", 200, seed=0):
        pass
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in sampler.generate(model, "", n, temperature=1.0, seed=0):
            pass
        rates.append(n / (time.perf_counter() - t))
    return stats(rates)


def web_rate(folder: Path, n: int) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get((folder / "index.html").resolve().as_uri())
        run = ("const done = arguments[arguments.length - 1];"
               "window.charlstm.generate({length: arguments[0], temperature: 0.8, seed: 1})"
               ".then(r => done(r.chars / r.seconds), e => done(String(e)));")
        driver.set_script_timeout(600)
        driver.execute_async_script(run, 200)  # warm-up: the JIT compiles the step
        rate = driver.execute_async_script(run, n)
        return {"median": rate, "min": rate, "max": rate}
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="M", choices=list(SHAPES))
    ap.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    ap.add_argument("--n", type=int, default=2000, help="characters per timed run")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="threads for torch and onnxruntime (default: theirs)")
    ap.add_argument("--web", action="store_true", help="also time the exported page in headless Chromium")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    print(machine.line(), flush=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    layers, hidden, embed = SHAPES[args.config]
    tok = CharTokenizer([chr(32 + i) for i in range(95)] + ["\n"])
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=tok.vocab_size, cell=args.cell, embed=embed, hidden=hidden,
                                 layers=layers)).eval()
    ckpt = {"model_config": model.config.to_dict(), "train_config": TrainConfig().to_dict(), "vocab": tok.to_dict(),
            "model": dict(model.state_dict()), "run_name": f"bench-{args.config}"}
    rows = {"charlstm sample (fast path)": torch_rate(model, tok, args.n, args.reps)}
    with tempfile.TemporaryDirectory() as d:
        size, _ = export_onnx(ckpt, Path(d) / "model.onnx")
        rows["sample_onnx.py (onnxruntime)"] = onnx_rate(Path(d) / "model.onnx", args.n, args.reps, args.threads)
        if args.web:
            web = export_web(ckpt, Path(d) / "web")
            rows["web page (headless Chromium)"] = web_rate(Path(d) / "web", args.n)
    print(f"{args.config} {args.cell} ({layers} x {hidden}, embed {embed}), batch 1, {args.n} chars, "
          f"threads {args.threads or 'default'}; {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, "
          f"onnxruntime {ort.__version__}, python {sys.version.split()[0]}")
    print(f"{'loop':32} {'chars/s':>9} {'min':>9} {'max':>9}")
    for name, r in rows.items():
        print(f"{name:32} {r['median']:9.0f} {r['min']:9.0f} {r['max']:9.0f}")
    print(f".onnx {size / 1e6:.1f} MB" + (f"; web folder {sum(web.values()) / 1e6:.1f} MB" if args.web else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "onnx_bytes": size}, indent=1))


if __name__ == "__main__":
    main()
