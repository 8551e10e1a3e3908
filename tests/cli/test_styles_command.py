"""A styled run through the CLI, as a user makes one: `train DIR --styles folder` on two voices a model
can tell apart (the same verse in lower and in upper case), then `sample --style` writing in each,
`eval --style`, `info`, `resume`, `--init-from` adding a third style, the exports (slim, ONNX, web)
and the playground, each carrying the style."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
import torch
from conftest import VERSE
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.store import checkpoint

TRAIN = ["--preset", "tiny", "--layers", "1", "--hidden", "48", "--embed", "16", "--batch-size", "8", "--seq-len",
         "32", "--lr", "0.01", "--warmup", "0", "--schedule", "constant", "--eval-every", "100", "--sample-every",
         "0", "--precision", "fp32", "--device", "cpu", "--seed", "3", "--plain"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def upper_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / max(1, len(letters))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    d = tmp_path_factory.mktemp("styles")
    for name, text in (("low", VERSE.lower()), ("up", VERSE.upper())):
        (d / "corpus" / name).mkdir(parents=True)
        (d / "corpus" / name / "verse.txt").write_text(text * 12, encoding="utf-8")
    r = invoke("train", d / "corpus", "--styles", "folder", "--steps", 300, "--root", d / "runs", "--name", "mixed",
               *TRAIN)
    assert r.exit_code == 0, r.output
    return d


def sample(home, style: str, *more) -> str:
    r = invoke("sample", home / "runs" / "mixed", "--style", style, "-n", 300, "--temp", "0.8", "--seed", 1, *more)
    assert r.exit_code == 0, r.output
    return r.stdout


def test_the_run_records_its_styles_their_shares_and_a_loss_for_each(home):
    ck = checkpoint.load(home / "runs" / "mixed" / "last.pt")
    assert ck["model_config"]["styles"] == ["low", "up"]
    assert [(r["name"], r["share"]) for r in ck["corpus"]["styles"]["of"]] == [("low", 0.5), ("up", 0.5)]
    last = [r for r in ck["metrics"] if r["kind"] == "eval"][-1]
    by_style = last["val_by_style"]
    assert set(by_style) == {"low", "up"}
    # the two held-out tails are the same size: the run's loss is their mean
    assert last["val_loss"] == pytest.approx((by_style["low"] + by_style["up"]) / 2, abs=1e-6)


def test_each_style_writes_in_its_own_voice(home):
    low, up = sample(home, "low"), sample(home, "up")
    assert upper_share(low) < 0.1 and upper_share(up) > 0.9, (low[:80], up[:80])
    # the fast torch engine reads the same folded weights: the same text for the seed
    assert sample(home, "up", "--engine", "fast") == up


def test_an_unknown_style_is_one_line_that_lists_the_known_ones(home):
    r = invoke("sample", home / "runs" / "mixed", "--style", "prose", "-n", 10)
    assert r.exit_code == 1
    assert "unknown style 'prose'; this model knows: low, up" in r.output
    r = invoke("sample", home / "runs" / "mixed", "--style", "low:-1")
    assert r.exit_code == 1 and "not negative" in r.output


def test_eval_scores_a_text_as_a_style(home):
    text = home / "corpus" / "up" / "verse.txt"
    as_up = json.loads(invoke("eval", home / "runs" / "mixed", text, "--style", "up", "--json").stdout)
    as_low = json.loads(invoke("eval", home / "runs" / "mixed", text, "--style", "low", "--json").stdout)
    assert as_up["style"] == "up" and as_low["style"] == "low"
    assert as_up["nats_per_char"] < as_low["nats_per_char"] - 0.2


def test_info_lists_the_styles(home):
    r = invoke("info", home / "runs" / "mixed", "--last")
    assert r.exit_code == 0 and "styles" in r.output and "low (50% of the text, val" in r.output
    got = json.loads(invoke("info", home / "runs" / "mixed", "--last", "--json").stdout)
    assert [s["name"] for s in got["styles"]] == ["low", "up"] and all(s["val_loss"] > 0 for s in got["styles"])


def test_resume_keeps_the_styles(home, tmp_path):
    import shutil
    run = tmp_path / "mixed"
    shutil.copytree(home / "runs" / "mixed", run)
    r = invoke("resume", run, "--steps", 320, "--plain", "--device", "cpu")
    assert r.exit_code == 0, r.output
    ck = checkpoint.load(run / "last.pt")
    assert ck["step"] == 320 and ck["model_config"]["styles"] == ["low", "up"]
    assert set([r for r in ck["metrics"] if r["kind"] == "eval"][-1]["val_by_style"]) == {"low", "up"}


def test_init_from_a_styled_run_adds_a_style_and_keeps_the_others(home, tmp_path):
    (tmp_path / "more" / "title").mkdir(parents=True)
    (tmp_path / "more" / "title" / "verse.txt").write_text(VERSE.title() * 12, encoding="utf-8")
    r = invoke("train", tmp_path / "more", "--styles", "folder", "--init-from", home / "runs" / "mixed", "--steps", 5,
               "--root", tmp_path / "runs", "--name", "child", "--plain", "--device", "cpu", "--sample-every", 0)
    assert r.exit_code == 0, r.output
    parent = checkpoint.load(home / "runs" / "mixed" / "best.pt")
    child = checkpoint.load(tmp_path / "runs" / "child" / "last.pt")
    assert child["model_config"]["styles"] == ["low", "up", "title"]
    first = [r for r in child["metrics"] if r["kind"] == "eval"][0]
    assert set(first["val_by_style"]) == {"title"}  # only the new text is scored
    from charlstm.training import finetune
    cfg = finetune.grown_config(parent, parent["model_config"]["vocab_size"], {}, ("title",))
    grown = finetune.grown_weights(parent, cfg)["style.weight"]
    assert torch.equal(grown[:2], parent["model"]["style.weight"].float())
    assert torch.allclose(grown[2], parent["model"]["style.weight"].float().mean(0))  # starts as the even blend


def test_slim_onnx_and_web_exports_carry_the_style(home, tmp_path):
    run = home / "runs" / "mixed"
    r = invoke("export", run, "--format", "pt", "--output", tmp_path / "slim.pt", "--half")
    assert r.exit_code == 0, r.output
    slim = checkpoint.load(tmp_path / "slim.pt")
    assert slim["model_config"]["styles"] == ["low", "up"] and "style.weight" in slim["model"]
    assert upper_share(invoke("sample", tmp_path / "slim.pt", "--style", "up", "-n", 200, "--temp", "0.8",
                              "--seed", 1).stdout) > 0.9
    # ONNX: a `style` input; the torch-free sampler at temperature 0 prints what charlstm sample prints
    r = invoke("export", run, "--format", "onnx", "--output", tmp_path / "m.onnx")
    assert r.exit_code == 0, r.output
    want = invoke("sample", run, "--style", "up", "--temp", 0, "-n", 120, "--prime", "THE ").stdout
    got = subprocess.run([sys.executable, str(tmp_path / "sample_onnx.py"), str(tmp_path / "m.onnx"), "--style", "up",
                          "--temp", "0", "-n", "120", "--prime", "THE "], capture_output=True, text=True,
                         encoding="utf-8", env={**os.environ, "PYTHONIOENCODING": "utf-8"}, timeout=120)
    assert got.returncode == 0, got.stderr
    assert got.stdout == want
    # web: the page gets the style names and each style's term, and the style columns are folded out
    from charlstm.export.webpage import page_weights
    weights = page_weights(checkpoint.load(run / "best.pt"))
    assert weights["style.bias"].shape == (2, 4 * 48) and weights["rnn.weight_ih_l0"].shape == (4 * 48, 16)


def test_the_playground_writes_in_the_style_asked_for(home):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    from serve_support import events

    from charlstm.playground.server import create_app
    with TestClient(create_app(home / "runs", device="cpu")) as c:
        card = c.get("/api/card", params={"run": "mixed"}).json()
        assert [s["name"] for s in card["styles"]] == ["low", "up"]
        for style, check in (("up", lambda s: s > 0.9), ("low", lambda s: s < 0.1)):
            r = c.post("/api/generate", json={"run": "mixed", "style": style, "length": 200, "temperature": 0.8,
                                              "seed": 1})
            assert r.status_code == 200
            text = "".join(row[0] for name, data in events(r.text) if name == "chars" for row in data)
            assert check(upper_share(text)), text[:80]
        r = c.post("/api/generate", json={"run": "mixed", "style": "prose"})
        assert r.status_code == 400 and "unknown style 'prose'" in r.json()["error"]


def test_a_model_adapted_in_a_style_says_which(home, tmp_path):
    r = invoke("sample", home / "runs" / "mixed", "--style", "up", "-n", 20, "--seed", 1, "--adapt",
               home / "corpus" / "up" / "verse.txt", "--save-adapted", tmp_path / "ad.pt")
    assert r.exit_code == 0, r.output
    saved = checkpoint.load(tmp_path / "ad.pt")
    assert saved["adapted"][0]["style"] == "up" and saved["model_config"]["styles"] == []  # the style folded in
    assert "in style up" in invoke("info", tmp_path / "ad.pt").output
