"""store/listing.py: the runs under a root, newest first, each with its newest checkpoint that loads
or why none does; a root with no runs is refused. The starter model serves as a readable checkpoint."""

import os
import shutil

import pytest

from charlstm.errors import CharLSTMError
from charlstm.store import starter
from charlstm.store.listing import list_runs


def test_runs_are_listed_newest_first_with_their_checkpoint_or_error(tmp_path):
    root = tmp_path / "ck"
    for name, file, stamp in (("old", "best.pt", 1_000), ("deep/new", "last.pt", 3_000), ("broken", "last.pt", 2_000)):
        (root / name).mkdir(parents=True)
        target = root / name / file
        if name == "broken":
            target.write_bytes(b"not a checkpoint")
        else:
            shutil.copyfile(starter.path(), target)
        os.utime(target, (stamp, stamp))
    (root / "empty").mkdir()  # no checkpoint: not a run
    entries = list_runs(root)
    assert [e.name for e in entries] == ["deep/new", "broken", "old"]
    new, broken, old = entries
    assert new.run_dir == root / "deep" / "new" and new.path == root / "deep" / "new" / "last.pt"
    assert new.checkpoint["model_config"]["cell"] == "lstm" and new.error is None
    assert old.path.name == "best.pt" and old.checkpoint is not None
    assert broken.checkpoint is None and broken.path is None and "corrupt" in broken.error


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "does not exist"), (lambda p: p.write_text("x"), "is not a folder"),
    (lambda p: p.mkdir(), "no runs under")])
def test_a_root_without_runs_is_refused(tmp_path, make, message):
    root = tmp_path / "root"
    make(root)
    with pytest.raises(CharLSTMError, match=message):
        list_runs(root)
