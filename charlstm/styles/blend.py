"""Styles at sampling time: reading `--style a:0.7,b:0.3`, and folding a chosen blend into the weights.

A styled model's first layer reads [embedding; style vector] at every step, so its input term is
W_e @ embedding + W_s @ v + b. For one fixed blend, v = sum_k w_k * vector_k is the same at every
step and W_s @ v = sum_k w_k * (W_s @ vector_k) is a constant: `fold` adds it to the first layer's
bias and drops the style columns, giving an ordinary model's weights that every engine runs as they
are (the web page does the same sum in JavaScript from `style_biases`). Works on
numpy arrays and torch tensors alike (only slicing, `@` and `+`); imports neither.
"""

from __future__ import annotations

from ..config import ModelConfig
from ..errors import ConfigError


def parse_blend(spec: str, names: tuple[str, ...] | list[str]) -> list[float]:
    """`spec` ("verse", or "verse:0.7,code:0.3") as one weight per style in `names`, summing to 1
    (weights given are scaled to sum to 1). An unknown name, a bad or negative weight, a style named
    twice, or a model without styles is one ConfigError that lists the known styles."""
    known = ", ".join(names) if names else "none: this model was trained without --styles"
    if not names:
        raise ConfigError(f"--style {spec}: this model has no styles (it was trained without --styles)")
    weights = [0.0] * len(names)
    seen = set()
    for part in (p.strip() for p in spec.split(",")):
        name, _, value = part.partition(":")
        name = name.strip()
        if name not in names:
            raise ConfigError(f"--style: unknown style {name!r}; this model knows: {known}")
        if name in seen:
            raise ConfigError(f"--style: {name!r} is named twice")
        seen.add(name)
        try:
            w = float(value) if value.strip() else 1.0
        except ValueError:
            raise ConfigError(f"--style: {part!r}: the weight after ':' must be a number") from None
        if not (w >= 0.0 and w != float("inf")):
            raise ConfigError(f"--style: {part!r}: weights must be finite and not negative")
        weights[names.index(name)] = w
    total = sum(weights)
    if total <= 0:
        raise ConfigError(f"--style {spec}: the weights add up to 0")
    return [w / total for w in weights]


def even(names: tuple[str, ...] | list[str]) -> list[float]:
    """The blend a styled model uses when no style is asked for: every style alike."""
    return [1.0 / len(names)] * len(names)


def choose(spec: str | None, names: tuple[str, ...] | list[str]) -> list[float]:
    """The blend `spec` asks for (parse_blend), or every style alike when it is None."""
    return parse_blend(spec, names) if spec is not None else even(names)


def describe(names: tuple[str, ...] | list[str], weights: list[float]) -> str:
    """'verse' for one style, 'verse 70% + code 30%' for a blend."""
    used = [(n, w) for n, w in zip(names, weights) if w > 0]
    if len(used) == 1:
        return used[0][0]
    return " + ".join(f"{n} {w:.0%}" for n, w in used)


def style_biases(weights: dict, config: ModelConfig):
    """Row k is what style k adds to the first layer's input term, W_s @ vector_k: [S, G*H]."""
    return weights["style.weight"] @ weights["rnn.weight_ih_l0"][:, config.embed:].T


def fold(weights: dict, config: ModelConfig, blend: list[float]) -> tuple[dict, ModelConfig]:
    """An unstyled model's weights and config that compute what the styled one does with `blend`
    (a weight per style): the first layer's bias gains sum_k blend_k * style_biases[k], and W_ih's
    style columns are dropped. `weights` may hold numpy arrays or torch tensors; others pass through."""
    if not config.styles:
        return weights, config
    rows = style_biases(weights, config)
    bias = weights["rnn.bias_ih_l0"]
    for k, w in enumerate(blend):
        bias = bias + rows[k] * float(w)
    out = {k: v for k, v in weights.items() if k != "style.weight"}
    out["rnn.weight_ih_l0"] = weights["rnn.weight_ih_l0"][:, :config.embed]
    out["rnn.bias_ih_l0"] = bias
    return out, ModelConfig.from_dict({**config.to_dict(), "styles": ()})


def records(ckpt: dict) -> list[dict]:
    """A checkpoint's styles as `info` and the playground show them: each name, its share of the
    training text and its last validation loss (None where not recorded); [] for an unstyled model."""
    names = list(ckpt["model_config"].get("styles", ()))
    shares = {r.get("name"): r.get("share") for r in ckpt.get("corpus", {}).get("styles", {}).get("of", [])
              if isinstance(r, dict)}
    evals = [r for r in ckpt.get("metrics", []) if isinstance(r, dict) and isinstance(r.get("val_by_style"), dict)]
    val = evals[-1]["val_by_style"] if evals else {}
    return [{"name": n, "share": shares.get(n), "val_loss": val.get(n)} for n in names]


def records_text(rows: list[dict]) -> str:
    """'verse (48% of the text, val 1.2345), code (52%, val 1.1012)'."""
    parts = []
    for i, r in enumerate(rows):
        share = f"{r['share']:.0%}{' of the text' if i == 0 else ''}" if isinstance(r["share"], (int, float)) else ""
        val = f"val {r['val_loss']:.4f}" if isinstance(r["val_loss"], (int, float)) else ""
        inner = ", ".join(x for x in (share, val) if x)
        parts.append(f"{r['name']} ({inner})" if inner else r["name"])
    return ", ".join(parts)
