"""bench/headline.py, the one command for every figure: the figures it says the docs cite are the ones
the docs cite, and its table is built from what it measured (a cheap row run for real, the GPU row
read from a gpu_check result)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import headline  # noqa: E402

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@pytest.mark.parametrize("key", sorted(headline.CITES))
def test_each_cited_figure_is_in_the_file_named(key):
    where, value = headline.CITES[key]
    text = (ROOT / where).read_text(encoding="utf-8")
    numbers = NUMBER.findall(value)
    assert numbers, f"{key}: a cited figure without a number"
    missing = [n for n in numbers if n not in text]
    assert not missing, f"{where} no longer says {missing} ({key}): change CITES with the docs"


def test_every_row_cites_a_known_figure():
    """Each row takes its cited value from CITES, never a string of its own."""
    source = (ROOT / "bench" / "headline.py").read_text(encoding="utf-8")
    keys = set(re.findall(r'cited\("([^"]+)"\)', source)) | {"novel", "code"}  # the fine-tuning rows: cited(name)
    assert keys == set(headline.CITES)
    assert not re.search(r"\"(?:docs/[\w-]+\.md|README\.md): ", source), "a row spells out a cited value by hand"


def test_a_cheap_row_is_measured_and_the_gpu_row_says_why_not(tmp_path):
    out = tmp_path / "table.md"
    hide_gpus = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # the row's answer without CUDA, on any machine
    proc = subprocess.run([sys.executable, "bench/headline.py", "--corpus", "corpora/pydocs.txt",
                           "--only", "starter_size,gpu_sampling", "--markdown", out],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=hide_gpus)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in out.read_text(encoding="utf-8").splitlines() if line.startswith("| ")][1:]
    cells = {r.split(" | ")[0].lstrip("| "): r.split(" | ") for r in rows}
    size = (ROOT / "charlstm" / "assets" / "starter.pt").stat().st_size / 1e6
    starter = next(c for f, c in cells.items() if f.startswith("the starter model's file"))
    assert starter[2] == f"{size:.2f} MB"
    gpu = next(c for f, c in cells.items() if "CUDA" in f)
    assert gpu[2] == "not measured here: needs a CUDA GPU"
    assert "bench/gpu_check.py" in gpu[4]


def test_the_gpu_row_reads_gpu_check_sampling_rows(tmp_path, monkeypatch):
    """On a CUDA machine the row runs gpu_check.py's sampling section and reads batch 1's graph and plain
    rates from its JSON; here the run is replaced by the file such a run writes."""
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "NVIDIA H200")
    rows = [{"batch": 1, "path": "plain", "chars_s": 3400}, {"batch": 1, "path": "graph", "chars_s": 17000},
            {"batch": 8, "path": "graph", "chars_s": 90000}]
    ran = []

    def fake_run(cmd, cwd=None):
        ran.append([str(c) for c in cmd])
        Path(cmd[cmd.index("--out") + 1]).write_text(json.dumps({"sampling": {"rows": rows}}))
        return ""

    monkeypatch.setattr(headline, "run", fake_run)
    row = headline.gpu_sampling(tmp_path, tmp_path / "corpus.txt")
    assert ran and ran[0][1] == "bench/gpu_check.py" and "correctness,quality,throughput" in ran[0]
    assert row.measured == "17,000 chars/s (5.0x)"
    assert row.yardstick == "the model's eager steps 3,400 chars/s"
    assert "H200" in row.figure


@pytest.mark.parametrize("flags, kind", [({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "AMX"),
                                         ({"avx2", "avx512f", "avx512_bf16"}, "AVX-512 with bf16"),
                                         ({"avx2", "avx512f"}, "AVX-512"), ({"avx2", "fma"}, "AVX2 only"),
                                         ({"sse4_2"}, "no AVX2")])
def test_the_machine_kind_is_the_widest_unit(flags, kind):
    import machine
    assert machine.kind(flags) == kind
