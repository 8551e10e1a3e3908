"""Web export: a folder that samples from a model in a browser, opened straight from disk.

The folder holds the page and its script (copied from assets/web/: index.html, rnn.js with the
LSTM/GRU/RNN step in plain JavaScript, page.js with the controls) and `model.js`, which sets
`window.CHARLSTM_MODEL` to the config, vocabulary and weights (float32, little-endian, base64).
Weights travel as a script rather than a file to fetch(), because browsers refuse fetch() on
file:// pages. Nothing is loaded from the network. Needs no torch: it reads a checkpoint's tensors or
the numpy arrays of a torch-free read alike. Knows nothing of the terminal.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from ..config import ModelConfig
from ..store.files import write_bytes
from ..styles.blend import fold, style_biases

ASSETS = Path(__file__).parents[1] / "assets" / "web"
TEMPLATE = ("index.html", "rnn.js", "page.js")
LINEAGE_KEYS = ("run_name", "step", "epoch", "train_time", "best_val_loss", "saved_at", "charlstm_version",
                "torch_version", "lineage")
WEIGHTS = "model.js"


def lineage(ckpt: dict) -> dict:
    """Where the weights came from: run, step, time trained, versions and the corpus record
    (paths, size and checksum), as plain JSON-ready values."""
    out = {k: ckpt[k] for k in LINEAGE_KEYS if ckpt.get(k) is not None}
    corpus = ckpt.get("corpus")
    if isinstance(corpus, dict):
        out["corpus"] = {k: corpus[k] for k in ("paths", "tokens", "checksum") if k in corpus}
    return out


def _float32(t) -> np.ndarray:
    """A weight as little-endian float32, from a torch tensor or the numpy array a torch-free read gives."""
    if hasattr(t, "detach"):
        t = t.detach().cpu().float().numpy()
    return np.ascontiguousarray(t, dtype="<f4")


def page_weights(ckpt: dict) -> dict:
    """The tensors the page reads: a styled model's with its style columns folded out of layer 0
    (styles.fold with no style) and `style.bias`, each style's own term, for the page to blend."""
    config = ModelConfig.from_dict(ckpt["model_config"])
    if not config.styles:
        return ckpt["model"]
    weights = {k: _float32(v) for k, v in ckpt["model"].items()}
    plain, _ = fold(weights, config, [0.0] * len(config.styles))
    return {**plain, "style.bias": style_biases(weights, config)}


def model_script(ckpt: dict) -> str:
    """`model.js`: one assignment of the model to window.CHARLSTM_MODEL. Tensors keep their state
    dict names and shapes; `offset` counts float32 values into the decoded weights."""
    tensors, parts, offset = [], [], 0
    for name, t in page_weights(ckpt).items():
        a = _float32(t)
        tensors.append({"name": name, "shape": list(a.shape), "offset": offset})
        parts.append(a.tobytes())
        offset += a.size
    head = {"config": ckpt["model_config"], "vocab": list(ckpt["vocab"]["chars"]),
            "normalization": ckpt["vocab"]["normalization"], "lineage": lineage(ckpt), "tensors": tensors}
    data = base64.b64encode(b"".join(parts)).decode("ascii")
    # ASCII only, so the file reads the same whatever charset it is taken for; "</" written as "<\/"
    # (the same string in JSON), so the text could never end a <script> element it were pasted into
    meta = json.dumps(head, ensure_ascii=True, default=str).replace("</", "<\\/")
    return f'window.CHARLSTM_MODEL = {meta};\nwindow.CHARLSTM_MODEL.weights = "{data}";\n'


def export_web(ckpt: dict, folder: Path) -> dict[str, int]:
    """Write the page, its scripts and the weights into `folder` (created if missing; the parent
    must exist). Each file is replaced atomically; other files in the folder are left alone.
    Returns the bytes written per file name."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    written = {}
    for name in TEMPLATE:
        data = (ASSETS / name).read_bytes()
        write_bytes(folder / name, data)
        written[name] = len(data)
    data = model_script(ckpt).encode("ascii")
    write_bytes(folder / WEIGHTS, data)
    written[WEIGHTS] = len(data)
    return written
