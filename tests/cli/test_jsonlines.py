"""--json: one compact JSON object per event on stdout, "kind" first, nothing else there; `info
--json` and `runs --json`."""

import io
import json
import math

import pytest
from rich.console import Console
from test_dashboard import MESSAGE, events
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.cli.jsonlines import JsonLines, dumps
from charlstm.events import Skipped, Stopped

KINDS = {"started", "step", "eval", "sample", "saved", "skipped", "alert", "stopped"}
TINY = ["--hidden", "16", "--embed", "8", "--layers", "1", "-b", "4", "--seq-len", "16", "--eval-every", "5",
        "--log-every", "5", "--precision", "fp32", "--device", "cpu"]


def invoke(*args, **kw):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False, **kw)


def test_every_event_is_one_compact_line_with_its_kind_first():
    out, err = io.StringIO(), io.StringIO()
    view = JsonLines(Console(file=err), out=out)
    evs = [*events(), Skipped(step=291, loss=float("nan"), grad_norm=float("inf"), in_a_row=1),
           Stopped(step=291, reason="done", message="done", best_val_loss=3.0, elapsed=60.0, run_dir="r")]
    with view:
        for ev in evs:
            view.show(ev)
        view.notice(MESSAGE)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(evs)
    records = [json.loads(line) for line in lines]
    assert {r["kind"] for r in records} == KINDS
    assert all(next(iter(r)) == "kind" for r in records)
    assert all(line == json.dumps(r, separators=(",", ":")) for line, r in zip(lines, records))  # compact
    alert = next(r for r in records if r["kind"] == "alert")
    assert alert["alert_kind"] == "exploding" and "lower --lr" in alert["message"]
    skipped = next(r for r in records if r["kind"] == "skipped")
    assert skipped["loss"] is None and skipped["grad_norm"] is None  # JSON has no NaN or Infinity
    started = records[0]
    assert started["notes"][0].startswith("size: medium") and started["model_config"]["hidden"] == 512
    assert MESSAGE in err.getvalue() and MESSAGE not in out.getvalue()


def test_dumps_writes_standard_json():
    got = dumps({"a": [1.5, math.nan], "b": {"c": -math.inf}, "d": "é"})
    assert got == '{"a":[1.5,null],"b":{"c":null},"d":"\\u00e9"}'


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import VERSE
    d = tmp_path_factory.mktemp("json")
    corpus = d / "verse.txt"
    corpus.write_text(VERSE * 12, encoding="utf-8")
    r = invoke("train", corpus, "--root", d / "checkpoints", "--name", "run", "--steps", 10, "--json", *TINY)
    assert r.exit_code == 0, r.output
    return d, r


def test_train_json_is_json_lines_on_stdout_only(trained):
    d, r = trained
    records = [json.loads(line) for line in r.stdout.splitlines()]
    kinds = [rec["kind"] for rec in records]
    assert kinds[0] == "started" and kinds[-1] == "stopped" and {"step", "eval", "saved"} <= set(kinds)
    assert [rec["step"] for rec in records if rec["kind"] == "step"] == [5, 10]
    assert all(0 < rec["epoch"] for rec in records if rec["kind"] == "step")
    assert records[-1]["reason"] == "done" and records[-1]["run_dir"] == str(d / "checkpoints" / "run")
    assert "{" not in r.stderr and "charlstm resume" not in r.stderr  # no summary for people


def test_resume_json(trained, tmp_path):
    import shutil
    d, _ = trained
    shutil.copytree(d / "checkpoints" / "run", tmp_path / "run")
    r = invoke("resume", tmp_path / "run", "--steps", 15, "--json", "--device", "cpu")
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert records[0]["kind"] == "started" and records[0]["resumed_from"] == 10
    assert records[-1]["kind"] == "stopped" and records[-1]["step"] == 15


def test_info_json_is_the_metadata_without_tensors(trained):
    d, _ = trained
    r = invoke("info", d / "checkpoints" / "run", "--json")
    assert r.exit_code == 0, r.output
    assert len(r.stdout.splitlines()) == 1
    info = json.loads(r.stdout)
    assert info["run_name"] == "run" and info["step"] == 10 and info["model_config"]["hidden"] == 16
    assert info["params"] > 0 and info["path"].endswith("best.pt") and info["vocab"]["chars"]
    assert {"train_config", "epoch", "best_val_loss", "corpus", "charlstm_version", "torch_version",
            "saved_at", "run_dir"} <= set(info)
    assert not {"model", "optimizer", "rng", "hidden"} & set(info)


def test_runs_json_is_one_object_per_run(trained):
    d, _ = trained
    root = d / "checkpoints"
    broken = root / "broken"
    broken.mkdir()
    (broken / "last.pt").write_bytes(b"not a checkpoint")
    try:
        r = invoke("runs", "--root", root, "--json")
    finally:
        (broken / "last.pt").unlink()
        broken.rmdir()
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["name"] for row in rows] == ["broken", "run"]
    assert "corrupt" in rows[0]["error"] and rows[0]["path"] == str(broken)
    assert rows[1] | {"train_time": 0, "best_val_loss": 0, "saved_at": ""} == {
        "name": "run", "path": str(root / "run"), "cell": "lstm", "layers": 1, "hidden": 16, "steps": 10,
        "train_time": 0, "best_val_loss": 0, "saved_at": ""}
    assert "broken" in r.stderr  # why, on stderr as well
