"""The worked example every runtime is held to: tests/fixtures/known_answers.json.

    python tests/known_answers.py        # write the fixture again (it is committed; rerun after changing it)

A tiny network of each cell (vocabulary 5, embedding 3, hidden 2, two layers) with weights of two
decimals, five characters fed through it, and for every step each layer's state and gates and the
logits; then one row of logits through the sampling filters (temperature, top-k, top-p). Every number
is worked out here in float64 with the math module from the textbook equations, in PyTorch's gate
order, and knows nothing of charlstm, so the fixture is an answer, not a recording of the code it
checks. tests/test_known_answers.py checks torch, numpy and onnxruntime against it, and the web page
in Chromium.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "known_answers.json"
VOCAB = ["\n", "a", "b", "c", "d"]  # in id order, as charlstm orders a vocabulary
E, H, L = 3, 2, 2
IDS = [0, 3, 1, 4, 2]
GATES = {"lstm": ("input", "forget", "cell", "output"), "gru": ("reset", "update", "new"), "rnn": ()}
FILTER_LOGITS = [2.0, 1.0, 0.5, -1.0, 0.5, 3.0]
FILTER_CASES = [  # (temperature, top_k, top_p, min_p)
    (1.0, None, None, None), (0.5, None, None, None), (2.0, None, None, None),
    (1.0, 4, None, None),  # the 4th largest logit (0.5) is held twice: both are kept
    (1.0, 2, None, None), (1.0, None, 0.6, None), (1.0, None, 0.85, None),  # no top-p cut falls between ties
    (0.7, 3, 0.8, None),
    (1.0, None, None, 0.2), (2.0, None, 0.9, 0.3), (1.0, 4, None, 0.1),  # min-p: no id sits at its line
]


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def matvec(w: list[list[float]], x: list[float], b: list[float]) -> list[float]:
    return [sum(wr[k] * x[k] for k in range(len(x))) + br for wr, br in zip(w, b)]


def weights_for(cell: str, seed: int) -> dict:
    rng = random.Random(seed)
    g = len(GATES[cell]) or 1

    def m(rows, cols):
        return [[round(rng.uniform(-1.5, 1.5), 2) for _ in range(cols)] for _ in range(rows)]
    w = {"embed.weight": m(len(VOCAB), E)}
    for layer in range(L):
        w[f"rnn.weight_ih_l{layer}"] = m(g * H, E if layer == 0 else H)
        w[f"rnn.weight_hh_l{layer}"] = m(g * H, H)
        w[f"rnn.bias_ih_l{layer}"] = m(1, g * H)[0]
        w[f"rnn.bias_hh_l{layer}"] = m(1, g * H)[0]
    w["head.weight"] = m(len(VOCAB), H)
    w["head.bias"] = m(1, len(VOCAB))[0]
    return w


def cell_step(cell: str, xt: list[float], ht: list[float], h: list[float], c: list[float]):
    """One step from the input term xt = W_ih x + b_ih and the hidden term ht = W_hh h + b_hh."""
    if cell == "lstm":
        pre = [a + b for a, b in zip(xt, ht)]
        i = [sigmoid(v) for v in pre[:H]]
        f = [sigmoid(v) for v in pre[H:2 * H]]
        g = [math.tanh(v) for v in pre[2 * H:3 * H]]
        o = [sigmoid(v) for v in pre[3 * H:]]
        c = [f[j] * c[j] + i[j] * g[j] for j in range(H)]
        return [o[j] * math.tanh(c[j]) for j in range(H)], c, [i, f, g, o]
    if cell == "gru":
        r = [sigmoid(xt[j] + ht[j]) for j in range(H)]
        z = [sigmoid(xt[H + j] + ht[H + j]) for j in range(H)]
        n = [math.tanh(xt[2 * H + j] + r[j] * ht[2 * H + j]) for j in range(H)]
        return [(1 - z[j]) * n[j] + z[j] * h[j] for j in range(H)], c, [r, z, n]
    return [math.tanh(a + b) for a, b in zip(xt, ht)], c, []


def run(cell: str, w: dict) -> list[dict]:
    h = [[0.0] * H for _ in range(L)]
    c = [[0.0] * H for _ in range(L)]
    steps = []
    for i in IDS:
        x, layers = w["embed.weight"][i], []
        for layer in range(L):
            xt = matvec(w[f"rnn.weight_ih_l{layer}"], x, w[f"rnn.bias_ih_l{layer}"])
            ht = matvec(w[f"rnn.weight_hh_l{layer}"], h[layer], w[f"rnn.bias_hh_l{layer}"])
            h[layer], c[layer], gates = cell_step(cell, xt, ht, h[layer], c[layer])
            record = {"h": h[layer], "gates": dict(zip(GATES[cell], gates))}
            if cell == "lstm":
                record["c"] = c[layer]
            layers.append(record)
            x = h[layer]
        steps.append({"layers": layers, "logits": matvec(w["head.weight"], x, w["head.bias"])})
    return steps


def filtered(logits: list[float], temperature: float, top_k: int | None, top_p: float | None,
             min_p: float | None) -> list[float]:
    """Softmax of logits / temperature over the ids kept: with top_k, those whose logit is at least
    the k-th largest (ties kept); with min_p, those at least min_p times as likely as the likeliest;
    with top_p, going down the ranking, each id whose betters hold less than top_p of the probability."""
    z = [v / temperature for v in logits]
    if top_k is not None:
        kth = sorted(z, reverse=True)[top_k - 1]
        z = [v if v >= kth else -math.inf for v in z]
    top = max(z)
    e = [math.exp(v - top) for v in z]
    p = [v / sum(e) for v in e]
    if min_p is not None:
        p = [v if v >= min_p * max(p) else 0.0 for v in p]
        p = [v / sum(p) for v in p]
    if top_p is not None:
        held, keep = 0.0, [False] * len(p)
        for i in sorted(range(len(p)), key=lambda i: -p[i]):
            keep[i] = held < top_p
            held += p[i]
        p = [v if k else 0.0 for v, k in zip(p, keep)]
        p = [v / sum(p) for v in p]
    return p


def build() -> dict:
    models = {}
    for seed, cell in enumerate(("lstm", "gru", "rnn"), start=11):
        w = weights_for(cell, seed)
        models[cell] = {"config": {"vocab_size": len(VOCAB), "embed": E, "hidden": H, "layers": L, "cell": cell},
                        "weights": w, "ids": IDS, "steps": run(cell, w)}
    cases = [{"temperature": t, "top_k": k, "top_p": p, "min_p": m,
              "probabilities": filtered(FILTER_LOGITS, t, k, p, m)} for t, k, p, m in FILTER_CASES]
    return {"about": " ".join(__doc__.split("\n\n")[2].split()), "vocab": VOCAB, "models": models,
            "filters": {"logits": FILTER_LOGITS, "cases": cases}}


def load() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE}")
