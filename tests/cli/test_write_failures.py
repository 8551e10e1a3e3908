"""Writes that fail: no permission for the output, the run folder or its parent is one line naming the
path and leaves nothing; sample output is written whole with the user's umask; an atomic write never
follows a link at its temp name and keeps the old file when it fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bad_world import TINY, check_refused, invoke, make_world
from conftest import posix_only


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory)


def deny_writes_under(monkeypatch, folder: Path, access_too: bool = False) -> list[str]:
    """Make the system calls that create or write something inside `folder` fail with EACCES, as they
    would for a user without write permission there (CI runs as root, for whom a chmod changes
    nothing). Reads, and `folder` itself, are left alone. `access_too`: os.access says so as well.
    Returns the paths refused, in order."""
    import builtins
    import errno
    refused: list[str] = []
    real_open, real_mkdir, real_os_open, real_access = builtins.open, os.mkdir, os.open, os.access
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def inside(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and folder in Path(os.path.abspath(path)).parents

    def deny(path):
        refused.append(os.fspath(path))
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def fake_open(file, mode="r", *args, **kw):
        if inside(file) and any(m in mode for m in "wax+"):
            deny(file)
        return real_open(file, mode, *args, **kw)

    def fake_mkdir(path, *args, **kw):
        if inside(path):
            deny(path)
        return real_mkdir(path, *args, **kw)

    def fake_os_open(path, flags, *args, **kw):
        if inside(path) and flags & writing:
            deny(path)
        return real_os_open(path, flags, *args, **kw)

    def fake_access(path, mode, *args, **kw):
        if mode & os.W_OK and (inside(path) or Path(os.path.abspath(path)) == folder):
            return False
        return real_access(path, mode, *args, **kw)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "open", fake_os_open)
    if access_too:
        monkeypatch.setattr(os, "access", fake_access)
    return refused


def test_no_permission_to_write_the_output_is_one_line_naming_it(world, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    refused = deny_writes_under(monkeypatch, locked)
    r = invoke(["sample", world.run, "-n", 5, "-o", locked / "out.txt"])
    assert refused and refused[0].startswith(f"{locked}{os.sep}"), "the denial was not reached"
    # os.access said yes, so sampling ran and printed its usual lines; the refusal is the one error, last
    assert r.exit_code == 1 and r.stdout == "" and "Traceback" not in r.output, r.output
    lines = r.stderr.strip("\n").splitlines()
    assert [ln for ln in lines if ln.startswith("error")] == [lines[-1]], r.stderr
    assert lines[-1] == f"error: {refused[0]}: Permission denied (check its permissions)", r.stderr
    assert list(locked.iterdir()) == []


def test_an_output_folder_that_says_it_is_not_writable_is_refused_before_sampling(world, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    refused = deny_writes_under(monkeypatch, locked, access_too=True)
    r = invoke(["sample", world.run, "-n", 5, "-o", locked / "out.txt"])
    check_refused(r, 1, f"--output {locked / 'out.txt'}: the folder {locked} is not writable")
    assert refused == [] and list(locked.iterdir()) == []


def test_no_permission_to_make_the_run_folder_is_one_line_and_leaves_nothing(world, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    refused = deny_writes_under(monkeypatch, locked)
    r = invoke(["train", world.corpus, "--root", locked, "--steps", 1, *TINY])
    assert refused and refused[0].startswith(f"{locked}{os.sep}"), "the denial was not reached"
    check_refused(r, 1, f"cannot make the run folder {locked}: Permission denied")
    assert list(locked.iterdir()) == []


def test_sample_output_is_written_whole(world, tmp_path):
    out = tmp_path / "s.txt"
    out.write_text("old\n")
    r = invoke(["sample", world.run, "-n", 20, "--seed", 1, "-o", out])
    assert r.exit_code == 0, r.output
    assert len(out.read_text(encoding="utf-8")) == 21 and list(tmp_path.iterdir()) == [out]
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


@posix_only("a symlink needs admin rights on Windows")
def test_an_atomic_write_never_follows_a_symlink_at_the_temp_name(tmp_path):
    from charlstm.store import files
    target = tmp_path / "victim"
    target.write_text("untouched")
    files.temp_path(tmp_path / "out.txt").symlink_to(target)
    with files.atomic_write(tmp_path / "out.txt", "utf-8") as f:
        f.write("x")
    assert target.read_text() == "untouched" and (tmp_path / "out.txt").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "victim"]


def test_a_failed_atomic_write_keeps_the_old_file_and_no_temp_file(tmp_path):
    from charlstm.store import files
    (tmp_path / "out.txt").write_text("old")
    with pytest.raises(ZeroDivisionError), files.atomic_write(tmp_path / "out.txt", "utf-8") as f:
        f.write("half")
        raise ZeroDivisionError
    assert (tmp_path / "out.txt").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old
