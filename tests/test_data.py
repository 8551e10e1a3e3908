import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from charlstm.data import check_trainable, lay_lanes, num_windows, split, window
from charlstm.errors import CorpusError


def test_lanes_picture():
    ids = np.frombuffer(b"abcdefghijklm", dtype=np.uint8)
    x, y = lay_lanes(ids, 3)
    assert bytes(x.ravel()).decode() == "abcdefghijkl"
    assert [bytes(r).decode() for r in x] == ["abcd", "efgh", "ijkl"]
    assert [bytes(r).decode() for r in y] == ["bcde", "fghi", "jklm"]


def test_lanes_are_views_of_memmap(tmp_path):
    p = tmp_path / "t.bin"
    np.arange(1001, dtype=np.uint16).tofile(p)
    ids = np.memmap(p, dtype=np.uint16, mode="r")
    x, y = lay_lanes(ids, 10)
    assert np.shares_memory(x, ids) and np.shares_memory(y, ids)


def test_y_is_x_shifted_and_lanes_continue():
    ids = np.arange(203, dtype=np.int64)
    lanes = lay_lanes(ids, 4)
    T = 7
    n = num_windows(lanes[0].shape[1], T)
    prev = None
    for i in range(n):
        x, y = window(lanes, i, T)
        assert x.dtype == torch.int64
        assert torch.equal(y, x + 1)  # ids are consecutive, so the target is the next id
        if prev is not None:
            assert torch.equal(x[:, 0], prev[:, -1] + 1)  # lane k of window i+1 continues lane k of window i
        prev = x


def test_split_contiguous_last_fraction():
    ids = np.arange(100)
    tr, va = split(ids, 0.1)
    assert tr.tolist() == list(range(90)) and va.tolist() == list(range(90, 100))


def test_check_trainable_messages():
    with pytest.raises(CorpusError, match="corpus too short.*--batch-size 64"):
        check_trainable(1000, 100, 64, 128)
    with pytest.raises(CorpusError, match="validation"):
        check_trainable(100_000, 1, 4, 4)
    check_trainable(64 * 128 + 1, 2, 64, 128)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 500), batch=st.integers(1, 16), seq=st.integers(1, 40))
def test_batching_invariants(n, batch, seq):
    ids = np.arange(n, dtype=np.int64)
    if (n - 1) // batch < 1:
        with pytest.raises(CorpusError):
            lay_lanes(ids, batch)
        return
    lanes = lay_lanes(ids, batch)
    L = lanes[0].shape[1]
    xs, ys = zip(*(window(lanes, i, seq) for i in range(num_windows(L, seq))))
    x, y = torch.cat(xs, 1), torch.cat(ys, 1)
    # every lane is read exactly once, in order, and covers ids[k*L : (k+1)*L]
    assert x.shape == (batch, L)
    assert torch.equal(x, torch.arange(batch * L).view(batch, L))
    assert torch.equal(y, x + 1)
    assert all(t.shape[1] <= seq for t in xs) and all(t.shape[1] == seq for t in xs[:-1])
