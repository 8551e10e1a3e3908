import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from conftest import posix_only

from charlstm.data import textfiles as textfiles_mod
from charlstm.data.corpus import prepare_corpus
from charlstm.data.textfiles import ReadOptions, encode_text, find_files, iter_text
from charlstm.errors import CorpusError, ResumeMismatchError
from charlstm.tokenizer import CharTokenizer


def read_all(path, **kw):
    return "".join(iter_text(Path(path), ReadOptions(**kw)))


def test_bom_stripped_and_crlf_made_lf(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes("\ufeffone\r\ntwo\rthree\n".encode())
    assert read_all(p) == "one\ntwo\nthree\n"
    assert read_all(p, newline="keep") == "one\r\ntwo\rthree\n"


def test_invalid_utf8_reports_byte_offset(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"hello \xff world")
    with pytest.raises(CorpusError, match=r"bad.txt: invalid utf-8 at byte 6"):
        read_all(p)
    assert read_all(p, errors="replace") == "hello \ufffd world"
    assert read_all(p, errors="ignore") == "hello  world"


def test_invalid_byte_offset_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(textfiles_mod, "BLOCK", 7)
    p = tmp_path / "bad.txt"
    p.write_bytes("ab\né".encode() * 5 + b"\xc3(")  # a split 2-byte char, then a broken one at byte 25
    with pytest.raises(CorpusError, match=r"at byte 25"):
        read_all(p)


def test_other_encoding(tmp_path):
    p = tmp_path / "latin.txt"
    p.write_bytes("café\n".encode("latin-1"))
    assert read_all(p, encoding="latin-1") == "café\n"


def test_small_blocks_give_the_same_text(tmp_path, monkeypatch):
    """Block boundaries never split \\r\\n, a UTF-8 sequence or a combining sequence."""
    text = ("Vie\u0302\u0323t\r\nno\u0301i 🚀 " * 50) + "end"
    p = tmp_path / "t.txt"
    p.write_bytes(text.encode())
    whole = read_all(p)
    monkeypatch.setattr(textfiles_mod, "BLOCK", 5)
    assert read_all(p) == whole == unicodedata.normalize("NFC", text.replace("\r\n", "\n"))


def test_binary_file_refused(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"abc\0def")
    with pytest.raises(CorpusError, match="looks binary"):
        find_files([p])


def test_directory_walk_skips_binary_hidden_and_filters(tmp_path):
    d = tmp_path / "lyrics"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("one\n")
    (d / "sub" / "b.txt").write_text("two\n")
    (d / "c.md").write_text("three\n")
    (d / "img.png").write_bytes(b"\x89PNG\0\0")
    (d / ".hidden.txt").write_text("no\n")
    found = find_files([d])
    assert [p.name for p in found.files] == ["a.txt", "c.md", "b.txt"]
    assert [p.name for p, why in found.skipped] == ["img.png"]
    assert [p.name for p in find_files([d], "*.txt").files] == ["a.txt", "b.txt"]


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "corpus not found"),
    (lambda d: (d / "missing").write_text(""), "corpus is empty"),
    (lambda d: (d / "missing").write_text("  \n\t \n"), "only whitespace"),
    (lambda d: (d / "missing").mkdir(), "no text files"),
])
def test_bad_inputs(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(CorpusError, match=message):
        prepare_corpus([tmp_path / "missing"], tmp_path / "run")
    assert not (tmp_path / "run" / "tokens.bin").exists()


def test_several_files_joined_with_line_breaks(tmp_path):
    (tmp_path / "a.txt").write_text("abc")
    (tmp_path / "b.txt").write_text("def\n")
    c = prepare_corpus([tmp_path / "a.txt", tmp_path / "b.txt"], tmp_path / "run")
    assert c.tokenizer.decode(c.tokens.read()) == "abc\ndef\n"
    assert "2 file(s)" in c.describe()


def test_token_file_dtype_and_cache_reuse(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("hello world\n" * 10)
    c1 = prepare_corpus([p], tmp_path / "run")
    assert c1.tokens.dtype == np.uint8 and c1.tokens.path.name == "tokens.bin" and not c1.from_cache
    c2 = prepare_corpus([p], tmp_path / "run")
    assert c2.from_cache and np.array_equal(c1.tokens.read(), c2.tokens.read())
    p.write_text("hello there\n" * 10)
    c3 = prepare_corpus([p], tmp_path / "run")
    assert not c3.from_cache and c3.tokenizer.decode(c3.tokens.read(0, 11)) == "hello there"


def test_wide_vocabulary_uses_uint16(tmp_path):
    p = tmp_path / "cjk.txt"
    p.write_text("".join(chr(0x4E00 + i) for i in range(300)) + "\n")
    c = prepare_corpus([p], tmp_path / "run")
    assert c.tokens.dtype == np.uint16 and c.tokenizer.vocab_size == 301


def test_given_tokenizer_refuses_new_characters(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("xyz\n")
    with pytest.raises(ResumeMismatchError, match=r"U\+0078"):
        prepare_corpus([p], tmp_path / "run", tokenizer=CharTokenizer.from_text("yz\n"))


def test_encode_text_matches_tokenizer():
    tok = CharTokenizer.from_text("héllo wörld\n")
    text = "wörld héllo\n"
    assert encode_text(text, tok).tolist() == tok.encode(text)


def test_same_vocabulary_under_c_locale(tmp_path):
    p = tmp_path / "u.txt"
    p.write_text("naïve café — 日本 🙂\n", encoding="utf-8")
    code = ("import sys; from charlstm.data.corpus import prepare_corpus; from pathlib import Path; "
            "c = prepare_corpus([sys.argv[1]], Path(sys.argv[2])); print(c.tokenizer.to_dict()['chars'].encode())")
    out = []
    for loc, run in (("C", "r1"), ("C.UTF-8", "r2")):
        env = dict(os.environ, LC_ALL=loc, LANG=loc, PYTHONUTF8="0")
        out.append(subprocess.run([sys.executable, "-c", code, str(p), str(tmp_path / run)], env=env,
                                  capture_output=True, text=True, check=True).stdout)
    assert out[0] == out[1]
    assert "\\xf0\\x9f\\x99\\x82" in out[0]  # the emoji made it into the vocabulary


def test_a_failed_write_is_one_error_and_leaves_no_temp_file(tmp_path, monkeypatch):
    import errno

    from charlstm.data.textfiles import encode_files, find_files, scan_vocabulary, tokenizer_from_counts
    p = tmp_path / "a.txt"
    p.write_text("hello world\n" * 100)
    files = find_files([p]).files
    tok = tokenizer_from_counts(scan_vocabulary(files, ReadOptions()), "NFC")
    out = tmp_path / "run" / "tokens.bin"
    out.parent.mkdir()
    out.write_bytes(b"old")
    real = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CorpusError, match=f"could not write {out}: No space left on device; nothing was kept"):
        encode_files(files, tok, ReadOptions(), out)
    monkeypatch.setattr(os, "fsync", real)
    assert [q.name for q in out.parent.iterdir()] == ["tokens.bin"] and out.read_bytes() == b"old"


@posix_only("a symlink needs admin rights on Windows")
def test_cache_files_are_never_written_through_links(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("hello world\n" * 100)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    run = tmp_path / "run"
    run.mkdir()
    for name in ("corpus.json", "tokens.bin", f".tokens.bin.tmp-{os.getpid()}", f".corpus.json.tmp-{os.getpid()}"):
        (run / name).symlink_to(victim)
    prepare_corpus([p], run)
    assert victim.read_text() == "keep"
    assert not (run / "tokens.bin").is_symlink() and not (run / "corpus.json").is_symlink()
    assert prepare_corpus([p], run).from_cache


def test_a_directory_walk_passes_over_run_folders_and_checkpoints(tmp_path):
    (tmp_path / "a.txt").write_text("text\n")
    (tmp_path / "model.pt").write_bytes(b"pk")
    for run, marker in (("done", "last.pt"), ("writing", ".lock"), ("cached", "corpus.json")):
        (tmp_path / "checkpoints" / run).mkdir(parents=True)
        (tmp_path / "checkpoints" / run / marker).write_text("{}")
        (tmp_path / "checkpoints" / run / "metrics.jsonl").write_text("{}\n")
    found = find_files([tmp_path])
    assert found.files == [tmp_path / "a.txt"]
    assert sorted((q.name, why) for q, why in found.skipped) == [
        ("cached", "a charlstm run folder"), ("done", "a charlstm run folder"), ("model.pt", "a checkpoint"),
        ("writing", "a charlstm run folder")]
    assert find_files([tmp_path / "model.pt"]).files == [tmp_path / "model.pt"]  # named directly: read as before
