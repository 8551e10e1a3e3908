import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from charlstm.data.corpus import check_trainable, split
from charlstm.data.tokenfile import Tokens
from charlstm.data.windows import lane_length, num_windows, window, window_spans
from charlstm.errors import CorpusError


def lanes_of(text, B, T):
    ids = Tokens.of(np.frombuffer(text.encode(), dtype=np.uint8))
    L = lane_length(len(ids), B)
    xs, ys = zip(*(window(ids, B, i, T) for i in range(num_windows(L, T))))
    return torch.cat(xs, 1), torch.cat(ys, 1)


def rows(t):
    return ["".join(map(chr, r)) for r in t.tolist()]


def test_lanes_picture():
    x, y = lanes_of("abcdefghijklm", 3, 2)
    assert rows(x) == ["abcd", "efgh", "ijkl"]
    assert rows(y) == ["bcde", "fghi", "jklm"]


def test_y_is_x_shifted_and_lanes_continue():
    ids = Tokens.of(np.arange(203, dtype=np.int64))
    T, B = 7, 4
    prev = None
    for i in range(num_windows(lane_length(203, B), T)):
        x, y = window(ids, B, i, T)
        assert x.dtype == torch.int64
        assert torch.equal(y, x + 1)  # ids are consecutive, so the target is the next id
        if prev is not None:
            assert torch.equal(x[:, 0], prev[:, -1] + 1)  # lane k of window i+1 continues lane k of window i
        prev = x


def test_window_spans_are_pure_arithmetic():
    assert window_spans(13, 3, 0, 2) == [(0, 3), (4, 3), (8, 3)]
    assert window_spans(13, 3, 1, 3) == [(3, 2), (7, 2), (11, 2)]  # last window is shorter


def test_file_backed_tokens_read_the_same_as_memory(tmp_path):
    a = np.random.default_rng(0).integers(0, 60000, 5000).astype(np.uint16)
    p = tmp_path / "t.bin"
    a.tofile(p)
    f, m = Tokens(path=p, dtype=np.uint16), Tokens.of(a)
    assert len(f) == 5000
    for i in range(3):
        for got, want in zip(window(f.slice(100, 4000), 8, i, 16), window(m.slice(100, 4000), 8, i, 16)):
            assert torch.equal(got, want)
    assert f.checksum() == m.checksum()
    assert f.slice(10, 20).read(5, 100).tolist() == a[15:20].tolist()


# Run in a fresh process: the test process's own peak already holds whatever earlier tests allocated.
# The peak is reset (clear_refs 5) once the imports are done, so VmHWM afterwards is the peak of the
# reading alone, and the growth is that peak over the resident memory just before the reading started.
READ_A_BIG_FILE = """\
import sys
import numpy as np
from charlstm.data.windows import lane_length, num_windows, window
from charlstm.data.tokenfile import Tokens


def status_mb(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024


path, n = sys.argv[1], int(sys.argv[2])
ids = Tokens(path=path, dtype=np.uint8)
window(Tokens.of(np.zeros(4096, dtype=np.uint8)), 4, 0, 8)  # torch's first-use allocations, before the reset
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status_mb("VmRSS")
L = lane_length(n, 64)
windows = num_windows(L, 128)
for i in range(0, windows, 997):
    window(ids, 64, i, 128)
window(ids, 64, windows - 1, 128)
ids.checksum()
print(status_mb("VmHWM") - before)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc peak-memory reset")
def test_reading_a_big_token_file_keeps_memory_flat(tmp_path):
    p = tmp_path / "big.bin"
    n = 200 * 2**20
    with open(p, "wb") as fh:
        fh.truncate(n)  # 200 MB of zero ids, sparse on disk
    proc = subprocess.run([sys.executable, "-c", READ_A_BIG_FILE, str(p), str(n)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    grown_mb = float(proc.stdout)
    # a whole-file scan holds one CHUNK of ids and its bytes copy (32 MB here, measured): far below the 200 MB file
    assert grown_mb < 48, grown_mb
    os.remove(p)


def test_split_contiguous_last_fraction():
    tr, va = split(Tokens.of(np.arange(100)), 0.1)
    assert tr.read().tolist() == list(range(90)) and va.read().tolist() == list(range(90, 100))


def test_check_trainable_messages():
    with pytest.raises(CorpusError, match="corpus too short.*--batch-size 64"):
        check_trainable(1000, 100, 64, 128)
    with pytest.raises(CorpusError, match="validation"):
        check_trainable(100_000, 1, 4, 4)
    check_trainable(64 * 128 + 1, 2, 64, 128)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 500), batch=st.integers(1, 16), seq=st.integers(1, 40))
def test_batching_invariants(n, batch, seq):
    ids = Tokens.of(np.arange(n, dtype=np.int64))
    if (n - 1) // batch < 1:
        with pytest.raises(CorpusError):
            lane_length(n, batch)
        return
    L = lane_length(n, batch)
    xs, ys = zip(*(window(ids, batch, i, seq) for i in range(num_windows(L, seq))))
    x, y = torch.cat(xs, 1), torch.cat(ys, 1)
    # every lane is read exactly once, in order, and covers ids[k*L : (k+1)*L]
    assert x.shape == (batch, L)
    assert torch.equal(x, torch.arange(batch * L).view(batch, L))
    assert torch.equal(y, x + 1)
    assert all(t.shape[1] <= seq for t in xs) and all(t.shape[1] == seq for t in xs[:-1])
