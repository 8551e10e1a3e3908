"""Half-precision recurrent layers on any CPU, for tests.

oneDNN builds bf16 LSTM kernels only on CPUs with AVX-512 (and fp16 ones nowhere on the CPU), so on
an AVX2 host a bf16 run is refused and its paths could not be tested. `half_recurrent` replaces
exactly that boundary, and only where it is missing: under CPU autocast in a half precision, the
LSTM, GRU and RNN layers run in torch's native kernels in that precision (weights, input and state
cast, oneDNN off), and hand back output and state in it, as the real kernel does. Everything around
them (autocast of the output layer, the loss, scaling, checkpoints, resume) is the real code.
"""

from __future__ import annotations

import torch
from torch import nn

_OPS = {nn.LSTM: torch.lstm, nn.GRU: torch.gru, nn.RNN: torch.rnn_tanh}
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
ONEDNN_REFUSAL = "could not create a primitive descriptor for the LSTM forward propagation primitive."


def real_kernel_runs(precision: str) -> bool:
    """Whether this CPU's own kernels run an LSTM forward and backward under autocast in `precision`."""
    lstm = nn.LSTM(8, 8, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=_DTYPES[precision]):
            out, _ = lstm(torch.zeros(2, 3, 8))
        out.float().sum().backward()
    except RuntimeError:
        return False
    return True


def _native_half(cls: type, original):
    op = _OPS[cls]

    def forward(self, input, hx=None):
        dtype = torch.get_autocast_dtype("cpu")
        if not (torch.is_autocast_enabled("cpu") and input.device.type == "cpu" and dtype != torch.float32
                and hx is not None and self.batch_first and input.dim() == 3):
            return original(self, input, hx)  # not the call charlstm makes under half precision
        state = hx if isinstance(hx, tuple) else (hx,)
        state = tuple(h.to(dtype) for h in state)
        weights = [w.to(dtype) for w in self._flat_weights]
        with torch.autocast("cpu", enabled=False), torch.backends.mkldnn.flags(enabled=False):
            out, *new = op(input.to(dtype), state if cls is nn.LSTM else state[0], weights, self.bias,
                           self.num_layers, float(self.dropout), self.training, self.bidirectional, True)
        return out, tuple(new) if cls is nn.LSTM else new[0]
    return forward


def half_recurrent(monkeypatch, precision: str) -> str:
    """Make recurrent layers run under CPU autocast in `precision` ("bf16" or "fp16"): the real
    kernel where this CPU has it, torch's native kernels in that precision where not. Returns
    "real" or "native" (which one the test got)."""
    if real_kernel_runs(precision):
        return "real"
    for cls in _OPS:
        monkeypatch.setattr(cls, "forward", _native_half(cls, cls.forward))
    return "native"


def no_half_kernel(monkeypatch) -> None:
    """The opposite: recurrent layers under CPU autocast in a half precision fail the way oneDNN fails
    on an AVX2 CPU, on every machine."""
    for cls in _OPS:
        original = cls.forward

        def forward(self, input, hx=None, _original=original):
            if torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") != torch.float32:
                raise RuntimeError(ONEDNN_REFUSAL + " Run workload with environment variable ONEDNN_VERBOSE=all")
            return _original(self, input, hx)
        monkeypatch.setattr(cls, "forward", forward)
