"""Shared by the tests of `charlstm serve`: small runs made once per module, and reading a stream of
server-sent events. (Holds no tests itself.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import VERSE


def make_runs(d: Path) -> Path:
    """A root holding `run` (a tiny LSTM trained 6 steps), `child` (the same weights with a lineage)
    and `big` (a 2 x 512 LSTM with random weights: slow enough to stop mid-generation)."""
    import torch

    from charlstm.config import ModelConfig, TrainConfig
    from charlstm.model import CharLSTM
    from charlstm.store import checkpoint as ck
    from charlstm.training.start import train
    corpus = d / "verse.txt"
    corpus.write_text(VERSE * 12, encoding="utf-8")
    root = d / "checkpoints"
    cfg = TrainConfig(batch_size=4, seq_len=16, lr=1e-2, warmup=0, steps=6, eval_every=3, log_every=1,
                      eval_chars=None, save_every=None, save_every_time=None, sample_every=0, seed=7,
                      precision="fp32", schedule="constant")
    list(train([corpus], dict(cell="lstm", embed=8, hidden=24, layers=2, dropout=0.0), cfg,
               run_dir=root / "run", device="cpu"))
    saved = ck.load(root / "run" / "best.pt")
    ck.save({**saved, "lineage": [{"run_name": "parent", "step": 6, "best_val_loss": 2.5}]},
            root / "child" / "best.pt")
    big = ModelConfig.from_dict({**saved["model_config"], "embed": 128, "hidden": 512, "layers": 2})
    torch.manual_seed(0)
    weights = {k: v.detach().clone() for k, v in CharLSTM(big).state_dict().items()}
    ck.save({**saved, "model_config": big.to_dict(), "model": weights, "optimizer": {}}, root / "big" / "best.pt")
    return root


_MADE: dict[str, Path] = {}


def shared_runs(tmp_path_factory) -> Path:
    """make_runs once per test session (the serve test modules only read the runs)."""
    if "root" not in _MADE:
        _MADE["root"] = make_runs(tmp_path_factory.mktemp("serve"))
    return _MADE["root"]


def events(text: str) -> list[tuple[str, object]]:
    """(event, data) pairs of a server-sent event stream."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        out.append((name, json.loads(data)))
    return out


def text_of(evs: list[tuple[str, object]]) -> str:
    return "".join(row[0] for name, rows in evs if name == "chars" for row in rows)


def cli_sample(root: Path, run: str, seed: int, length: int, *options) -> str:
    """What `charlstm sample` prints for these options (the prime not echoed)."""
    from typer.testing import CliRunner

    from charlstm.cli import app
    r = CliRunner().invoke(app, ["sample", str(run), "--root", str(root), "--seed", str(seed), "-n", str(length),
                                 "--no-echo-prime", "--device", "cpu", *map(str, options)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.stdout


# The app and its TestClient over the shared runs, once per module: a test module imports them by name
# (`from serve_support import app, client, root`) and pytest finds them there.
@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return shared_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def app(root):
    from charlstm.playground.server import create_app
    return create_app(root, device="cpu")


@pytest.fixture(scope="module")
def client(app):
    with client_for(app) as c:
        yield c


def client_for(app):
    """Starlette's TestClient (starlette 1.x suggests httpx2 for it; httpx still works)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient(app)


def generate(client, **body):
    r = client.post("/api/generate", json={"run": "run", **body})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return events(r.text)
