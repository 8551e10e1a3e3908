"""Run folders: which run a user means, finding runs, the metrics log."""

import json
import os

import pytest
from conftest import posix_only

from charlstm.errors import CheckpointError
from charlstm.store import files, runs


def make_run(folder, *names, mtime=None):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"x")
        if mtime is not None:
            os.utime(folder / n, (mtime, mtime))
    return folder


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "checkpoints"
    make_run(r / "old", "last.pt", "best.pt", mtime=1_000)
    make_run(r / "cmp" / "lstm", "last.pt", mtime=2_000)  # compare's nested runs
    make_run(r / "new", "last.pt", mtime=3_000)
    (r / "empty").mkdir()
    (r / "notes.txt").write_text("not a run")
    return r


def test_find_lists_runs_newest_first_with_nested_ones(root):
    assert [runs.name_of(d, root) for d in runs.find(root)] == ["new", "cmp/lstm", "old"]
    assert runs.find(root / "missing") == []


def test_every_name_runs_prints_is_accepted(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for d in runs.find(root):
        assert runs.locate(runs.name_of(d, root), root) == d
    assert runs.locate(None, root) == root / "new"                       # the newest
    assert runs.locate(root / "old", root) == root / "old"              # a folder
    assert runs.locate(root / "old" / "last.pt", root) == root / "old" / "last.pt"  # a file


def test_checkpoint_path_prefers_best_unless_last(root):
    assert runs.checkpoint_path("old", root) == root / "old" / "best.pt"
    assert runs.checkpoint_path("old", root, last=True) == root / "old" / "last.pt"
    assert runs.checkpoint_path("new", root) == root / "new" / "last.pt"  # no best.pt: falls back
    assert runs.run_dir_of(root / "old" / "best.pt", root) == root / "old"


@pytest.mark.parametrize("target, message", [
    ("nope", "no run 'nope': not a checkpoint file, a run folder, or a run under"),
    ("empty", "no checkpoint (last.pt or best.pt) in"),
])
def test_unknown_runs_are_one_clear_error(root, target, message):
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        runs.locate(target, root)


def test_no_runs_at_all(tmp_path):
    with pytest.raises(CheckpointError, match="no runs under"):
        runs.locate(None, tmp_path / "nothing")


def test_default_name_never_reuses_a_folder(tmp_path):
    first = runs.default_name(["corpora/pydocs.txt"], tmp_path)
    assert first.startswith("pydocs-")
    (tmp_path / first).mkdir()
    second = runs.default_name(["corpora/pydocs.txt"], tmp_path)
    assert second != first and not (tmp_path / second).exists()


def test_metrics_skip_a_torn_line_and_truncate(tmp_path):
    for step in (1, 2, 3):
        runs.append_metrics(tmp_path, {"kind": "train", "step": step})
    with open(tmp_path / runs.METRICS, "a") as f:
        f.write('{"kind": "eval", "st')  # a write cut short
    records, bad = runs.read_metrics(tmp_path)
    assert [r["step"] for r in records] == [1, 2, 3] and bad == 1
    assert runs.truncate_metrics(tmp_path, 2) == 1
    lines = (tmp_path / runs.METRICS).read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]


HOLD = ("import sys, time; from pathlib import Path; from charlstm.store import runs\n"
        "with runs.writer_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n")


def test_a_run_folder_has_one_writer_and_a_killed_writers_lock_is_taken_over(tmp_path):
    import subprocess
    import sys

    from charlstm.errors import RunBusyError
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert runs.is_busy(tmp_path)
        with pytest.raises(RunBusyError, match=f"is being written by process {holder.pid} "):
            with runs.writer_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert not runs.is_busy(tmp_path)
    with runs.writer_lock(tmp_path):  # the kernel released the dead process's lock
        assert (tmp_path / runs.WRITER).read_text(encoding="utf-8").strip() == str(os.getpid())


def test_new_run_names_are_claimed_atomically(tmp_path):
    made = [runs.claim_new(["corpora/pydocs.txt"], tmp_path) for _ in range(3)]
    assert len(set(made)) == 3 and all(d.is_dir() for d in made)


@posix_only("a symlink needs admin rights on Windows")
def test_metrics_are_never_written_through_a_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    run = tmp_path / "run"
    run.mkdir()
    (run / runs.METRICS).symlink_to(victim)
    with pytest.raises(CheckpointError, match="could not write"):
        runs.append_metrics(run, {"step": 1})
    assert victim.read_text() == "keep"


def test_run_folders_are_known_by_any_of_their_files(tmp_path):
    for name in (runs.LOCK, runs.CORPUS_META, runs.TOKENS, runs.LAST, runs.BEST):
        make_run(tmp_path / name.strip("."), name)
        assert runs.is_run_folder(tmp_path / name.strip("."))
    assert not runs.is_run_folder(make_run(tmp_path / "plain", "notes.txt"))
    assert files.temp_path(tmp_path / "x.bin").name == f".x.bin.tmp-{os.getpid()}"


def test_a_lock_on_a_folder_removed_meanwhile_is_refused(tmp_path, monkeypatch):
    from charlstm.errors import RunBusyError
    monkeypatch.setattr(runs, "_same_file", lambda lock, path: False)  # as if the holder removed the folder
    with pytest.raises(RunBusyError, match="was removed by the process that was writing it"):
        with runs.writer_lock(tmp_path):
            pass
