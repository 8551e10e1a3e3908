"""`charlstm train --init-from` through the CLI, the starter model in the box, and slim checkpoints
read by every command."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import VERSE
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.store import checkpoint, starter

NEW = ("Ünter the bright lamp, ñandú birds ran across the bay; çà et là the kettle sang.\n"
       "Nobody came to hear it, and the boats sailed on past the winter stone.\n") * 30
SMALL = ["--batch-size", 4, "--seq-len", 16, "--eval-every", 2, "--sample-every", 0, "--plain",
         "--precision", "fp32"]


def invoke(*args, **kw):
    return CliRunner().invoke(app, [str(a) for a in args], **kw)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    d = tmp_path_factory.mktemp("ft")
    (d / "verse.txt").write_text(VERSE * 12, encoding="utf-8")
    (d / "new.txt").write_text(NEW, encoding="utf-8")
    r = invoke("train", d / "verse.txt", "--root", d / "runs", "--name", "parent", "--layers", 1, "--hidden", 24,
               "--embed", 8, "--steps", 10, *SMALL)
    assert r.exit_code == 0, r.output
    return d


def one_error_line(r, code=1):
    assert r.exit_code == code, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.output, r.output
    return lines[0]


def test_fine_tune_end_to_end_prints_what_it_did_and_info_shows_the_lineage(home):
    r = invoke("train", home / "new.txt", "--root", home / "runs", "--name", "child", "--init-from", "parent",
               "--steps", 4, *SMALL)
    assert r.exit_code == 0, r.output
    from charlstm.training.sizing import FINE_TUNE
    assert "init: " in r.output and "optimizer starts fresh" in r.output
    assert f"{FINE_TUNE['lr_share']:g}x its peak" in r.output
    assert "added 6: 'à', 'N', 'Ü', 'ç', 'ñ', 'ú' (new rows start at the mean of the old ones)" in r.output
    assert "eval   step       0" in r.output  # scored on the new text before the first step
    info = invoke("info", "child", "--root", home / "runs")
    assert info.exit_code == 0 and "fine-tuned from" in info.output and "run parent" in info.output
    s = invoke("sample", "child", "--root", home / "runs", "-n", 40, "--seed", 1, "--prime", "ñandú")
    assert s.exit_code == 0 and s.stdout.startswith("ñandú")  # new characters are part of the vocabulary
    resumed = invoke("resume", "child", "--root", home / "runs", "--steps", 6, "--plain")
    assert resumed.exit_code == 0 and "eval   step       0" not in resumed.output


@pytest.mark.parametrize("args, message", [
    (["--hidden", 99], "--hidden 99 disagrees with the model being fine-tuned (lstm 1x24, embed 8)"),
    (["--cell", "gru"], "--cell gru disagrees"),
    (["--preset", "small"], "--preset small sizes a new model"),
    (["--vocab", "strict"], "characters the model never saw"),
    (["--vocab", "map"], "mode 'map' needs a replacement character"),
    (["--vocab", "map", "--map-to", "Q"], "got 'Q' (U+0051"),
    (["--map-to", " "], "--map-to is only used with --vocab map"),
    (["--normalization", "NFKC"], "--normalization NFKC differs from the model's (NFC)"),
])
def test_refusals_are_one_line_and_leave_nothing_behind(home, args, message):
    r = invoke("train", home / "new.txt", "--root", home / "runs", "--name", "refused", "--init-from", "parent",
               "--steps", 2, *SMALL, *args)
    assert message in one_error_line(r)
    assert not (home / "runs" / "refused").exists()


def test_an_unknown_parent_is_one_line(home):
    r = invoke("train", home / "new.txt", "--root", home / "runs", "--init-from", "nope", "--steps", 2)
    assert "no run 'nope'" in one_error_line(r)


def test_map_mode_through_the_cli(home):
    r = invoke("train", home / "new.txt", "--root", home / "runs", "--name", "mapped", "--init-from", "parent",
               "--vocab", "map", "--map-to", r"\n", "--steps", 2, *SMALL)
    assert r.exit_code == 0, r.output
    assert "read as '\\n': 'à', 'N', 'Ü', 'ç', 'ñ', 'ú'" in r.output
    ck = checkpoint.load(home / "runs" / "mapped" / "last.pt")
    assert set(ck["vocab"]["aliases"]) == {"à", "N", "Ü", "ç", "ñ", "ú"}
    assert set(ck["vocab"]["aliases"].values()) == {"\n"}


# --- the starter model ------------------------------------------------------------------------------

def test_the_starter_is_packaged_small_and_loads():
    path = starter.path()
    assert path is not None, "charlstm/assets/starter.pt is missing: build it with tools/make_starter.py"
    # docs/finetuning.md: "a 2x512 LSTM (embed 128, 3,482,087 weights) ... with fp16 weights, 6.98 MB on disk",
    # validation loss 1.1911 nats/char (32 lanes), trained for 4,000 steps (issue #42: at most 8 MB, at most 1.42)
    assert round(path.stat().st_size / 1e6, 2) == 6.98, path.stat().st_size
    ck = checkpoint.load(path)
    c = ck["model_config"]
    assert (c["cell"], c["layers"], c["hidden"], c["embed"]) == ("lstm", 2, 512, 128)
    assert sum(t.numel() for t in ck["model"].values()) == 3_482_087
    assert {str(t.dtype) for t in ck["model"].values()} == {"torch.float16"}
    assert round(ck["best_val_loss"], 4) == 1.1911 and ck["step"] == 4_000
    assert "slim" in ck and "optimizer" not in ck and ck["best_val_loss"] is not None
    works = ["pydocs", *(f"austen-{k}" for k in range(1, 6)), "tinyshakespeare"]  # each work's head, then its tail
    assert ck["corpus"]["paths"] == [f"{i + 1:02d}-{w}.txt" for i, w in enumerate(works)] + \
        [f"{i + 8:02d}-{w}-held-out.txt" for i, w in enumerate(works)]
    # the slim file keeps a loss curve for the playground's card: every evaluation and thinned training losses
    kinds = [r["kind"] for r in ck["metrics"]]
    assert kinds.count("eval") == 16 and 100 <= kinds.count("train") <= 200  # an evaluation every 250 steps


def test_the_readme_shows_what_the_starter_writes(tmp_path):
    """The README's first screen holds the starter's sample from tools/readme_samples.py's command: a
    newcomer who runs it gets the same text."""
    import re
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    head = readme.split("## Set up")[0]
    cmd = re.search(r"The starter model that comes with charlstm \(`charlstm (sample starter [^`]+)`\)", head)[1]
    shown = re.search(r"<!-- starter -->\n```text\n(.*?)```\n", head, re.S)[1]
    r = invoke(*cmd.split(), "--root", tmp_path / "none")
    assert r.exit_code == 0, r.output
    assert r.stdout == shown and len(shown) > 250


def test_sample_with_no_runs_samples_from_the_starter_and_says_so(tmp_path):
    r = invoke("sample", "--root", tmp_path / "none", "-n", 60, "--seed", 3)
    assert r.exit_code == 0, r.output
    assert "sampling from the starter model" in r.stderr and len(r.stdout.strip()) > 0
    again = invoke("sample", "starter", "--root", tmp_path / "none", "-n", 60, "--seed", 3)
    assert again.stdout == r.stdout  # the name reaches the same model
    info = invoke("info", "starter", "--root", tmp_path / "none")
    assert info.exit_code == 0 and "slim" in info.output


def test_fine_tune_the_starter_end_to_end(home):
    r = invoke("train", home / "new.txt", "--root", home / "runs", "--name", "from-starter", "--init-from",
               "starter", "--steps", 2, *SMALL)
    assert r.exit_code == 0, r.output
    assert "init: starter (lstm" in r.output
    ck = checkpoint.load(home / "runs" / "from-starter" / "last.pt")
    assert ck["lineage"][0]["source"] == "starter"


def test_a_wheel_carries_the_starter_and_the_page_assets(tmp_path):
    """What a fresh `pip install` gets: the built wheel holds the starter (package data)."""
    from charlstm.store.starter import FILE
    root = FILE.parents[2]
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("charlstm-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "charlstm/assets/starter.pt" in names
    assert any(n.startswith("charlstm/assets/web/") for n in names)


def test_the_starter_says_what_it_read(tmp_path):
    """The shipped starter records its texts (tools/make_starter.py): Python's docstrings, Jane Austen's
    five novels and Tiny Shakespeare, no other, each with its licence and the tenth held out."""
    import json
    r = invoke("info", "starter", "--json", "--root", tmp_path / "none")
    read = json.loads(r.stdout)["sources"]
    assert [s["name"] for s in read] == ["pydocs.txt", "austen.txt", "tinyshakespeare.txt"]
    assert [s["licence"] for s in read] == ["PSF License Agreement", "public domain", "public domain"]
    assert all(0.09 < s["held_out"] / s["chars"] < 0.11 for s in read)
    shown = " ".join(invoke("info", "starter", "--root", tmp_path / "none").stdout.split())
    assert "Jane Austen's five novels" in shown and "austen.txt, 3,558,18" in shown


def test_info_says_what_a_packaged_model_read(home, tmp_path):
    import json

    from charlstm.export import slim
    from charlstm.store.arrays import load as load_without_torch
    read = [{"name": "novels.txt", "what": "two novels", "licence": "public domain", "chars": 12345, "held_out": 1234},
            {"name": "code.txt", "what": "some code", "licence": "MIT", "chars": 999, "held_out": 99}]
    ck = checkpoint.load(home / "runs" / "parent" / "best.pt")
    slim.export_pt({**ck, "sources": read}, tmp_path / "packaged.pt", half=True)
    r = invoke("info", tmp_path / "packaged.pt")
    assert r.exit_code == 0, r.output
    assert "two novels: novels.txt, 12,345 characters (1,234 held out); public domain" in " ".join(r.stdout.split())
    assert "some code: code.txt, 999 characters (99 held out); MIT" in " ".join(r.stdout.split())
    assert json.loads(invoke("info", tmp_path / "packaged.pt", "--json").stdout)["sources"] == read
    assert load_without_torch(tmp_path / "packaged.pt")["sources"] == read  # the torch-free reader too
    checkpoint.save({**ck, "sources": ["a text, not a record"]}, tmp_path / "bad.pt")
    with pytest.raises(Exception, match="its sources record is not a list of records"):
        checkpoint.load(tmp_path / "bad.pt")


# --- slim checkpoints through every command -----------------------------------------------------------

def test_a_slim_checkpoint_is_read_by_sample_eval_inspect_gates_info_and_init_from(home):
    from charlstm.export import slim
    ck = checkpoint.load(home / "runs" / "parent" / "best.pt")
    path = home / "parent-slim.pt"
    slim.export_pt(ck, path, half=True)
    for args in (["sample", path, "-n", 20, "--seed", 1], ["eval", path, home / "verse.txt"],
                 ["inspect", path, "--text", "The lamp"], ["gates", path, "--text", "The lamp"], ["info", path]):
        r = invoke(*args, "--root", home / "runs")
        assert r.exit_code == 0, (args, r.output)
    r = invoke("resume", path, "--root", home / "runs")
    assert "slim checkpoint" in one_error_line(r)
    r = invoke("train", home / "new.txt", "--root", home / "runs", "--name", "from-slim", "--init-from", path,
               "--steps", 2, *SMALL)
    assert r.exit_code == 0, r.output
