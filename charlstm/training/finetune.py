"""Fine-tuning on a new text whose characters differ: the vocabulary plan and the grown weights.

Owns the rule that a vocabulary is extended, never reordered (old characters keep their ids, new
ones are appended), and the initialisation of the new embedding and output rows. Knows nothing of
files, corpora, checkpoints on disk, the training loop or the terminal.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

import torch

from ..config import ModelConfig
from ..errors import ConfigError
from ..tokenizer import CharTokenizer, describe_char, normalize
from .sizing import VOCAB_MODES

MODES = VOCAB_MODES
GROWN = ("embed.weight", "head.weight", "head.bias")  # the state dict entries with one row per character
SHOWN = 10  # unseen characters named in an error message


@dataclass(frozen=True)
class VocabPlan:
    """What fine-tuning on a new text does to the vocabulary.

    tokenizer: the vocabulary to fine-tune with (the old one itself when nothing is added).
    added: characters appended after the old ones, in their new order (empty unless mode 'extend').
    coverage: share of the new text's characters (weighted by count) the old vocabulary holds, 0..1.
    mapping: for mode 'map', each unseen character -> the known character it is encoded as.
    """

    mode: str
    tokenizer: CharTokenizer
    added: list[str] = field(default_factory=list)
    coverage: float = 1.0
    mapping: dict[str, str] = field(default_factory=dict)

    @property
    def old_vocab(self) -> int:
        return self.tokenizer.vocab_size - len(self.added)

    @property
    def new_vocab(self) -> int:
        return self.tokenizer.vocab_size


def count_chars(text: str, normalization: str = "NFC") -> dict[str, int]:
    """Character counts of `text` after normalization: the `counts` that `plan_vocab` takes (pass
    the old tokenizer's normalization so both vocabularies see characters the same way)."""
    return dict(Counter(normalize(text, normalization)))


def plan_vocab(old: CharTokenizer, counts: dict[str, int], mode: str = "extend",
               map_to: str | None = None) -> VocabPlan:
    """The vocabulary for fine-tuning `old`'s model on a text with these character counts.

    `counts` maps each character of the new text, normalized with `old.normalization` (see
    `count_chars`), to how often it occurs; characters counted 0 are ignored. Modes:
      - 'extend' (default): old characters keep their ids; unseen ones are appended, sorted by
        descending count, then by codepoint (counts do not say which came first, and this order is
        deterministic and puts the characters the new text leans on most right after the old ones).
      - 'strict': any unseen character is a ConfigError naming up to 10 of them, most frequent first.
      - 'map': the vocabulary stays as it is and every unseen character is encoded as `map_to`,
        which must be one character of the old vocabulary.
    The new tokenizer keeps the old one's normalization form. Raises ConfigError for an unknown
    mode, a `map_to` outside mode 'map' or outside the old vocabulary, and a text with no characters.
    """
    if mode not in MODES:
        raise ConfigError(f"fine-tuning mode must be one of {', '.join(MODES)}, got {mode!r}")
    if map_to is not None and mode != "map":
        raise ConfigError(f"a replacement character is only used by mode 'map', not {mode!r}")
    counts = _checked_counts(counts)
    unseen = sorted((c for c in counts if c not in old.stoi), key=lambda c: (-counts[c], ord(c)))
    total = sum(counts.values())
    coverage = sum(n for c, n in counts.items() if c in old.stoi) / total
    if mode == "strict" and unseen:
        shown = ", ".join(describe_char(c) for c in unseen[:SHOWN])
        more = f" and {len(unseen) - SHOWN} more" if len(unseen) > SHOWN else ""
        raise ConfigError(f"the new text holds {len(unseen)} characters the model never saw: {shown}{more} "
                          f"({coverage:.1%} of it is known; --vocab extend adds them, --vocab map reads them as a "
                          "known one)")
    if mode == "map":
        if map_to is None or map_to not in old.stoi:
            got = "none was given" if map_to is None else f"got {_show(map_to)}"
            raise ConfigError(f"mode 'map' needs a replacement character from the model's vocabulary; {got}")
        mapping = {c: map_to for c in unseen}
        tok = CharTokenizer(old.chars, old.normalization, keep_order=True, aliases={**old.aliases, **mapping})
        return VocabPlan("map", tok, [], coverage, mapping)
    if not unseen:
        return VocabPlan(mode, old, [], coverage, {})
    return VocabPlan(mode, _in_order(old.chars + unseen, old.normalization), unseen, coverage, {})


def _show(text: str) -> str:
    return describe_char(text) if len(text) == 1 else repr(text)


def _checked_counts(counts: dict[str, int]) -> dict[str, int]:
    """The positive counts, after checking every key is one character and every count a whole number >= 0."""
    for c, n in counts.items():
        if not isinstance(c, str) or len(c) != 1:
            raise ConfigError(f"character counts must be keyed by single characters, got {c!r}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ConfigError(f"the count of {describe_char(c)} must be a whole number >= 0, got {n!r}")
    kept = {c: n for c, n in counts.items() if n > 0}
    if not kept:
        raise ConfigError("the new text holds no characters to fine-tune on")
    return kept


def _in_order(chars: list[str], normalization: str) -> CharTokenizer:
    """A CharTokenizer whose ids follow `chars` as given (old ids first, then the appended ones)."""
    return CharTokenizer(chars, normalization, keep_order=True)


def extend_weights(state_dict: dict[str, torch.Tensor], old_vocab: int, new_vocab: int) -> dict[str, torch.Tensor]:
    """A state dict for `new_vocab` characters from one for `old_vocab`: `embed.weight` and
    `head.weight` get `new_vocab - old_vocab` new rows and `head.bias` new entries, each the mean of
    the old ones. Every other entry is passed on as it is (the same tensor); the input dict and its
    tensors are not modified.

    Why the mean: the output logit of a new character is mean_rows(W) @ h + mean(b), which is the
    mean of the old characters' logits for that hidden state h (the layer is linear). So
      - the old characters' logits are untouched, and fed old ids the network computes the same
        hidden states (old embedding rows and the recurrent weights are unchanged): the predictions
        *among the old characters* (softmax over the old characters only) are exactly as before;
      - every new character gets the same logit, their mean, so they share the remaining probability
        equally, and by Jensen's inequality (exp(mean z) <= mean exp(z)) each one gets at most the
        average probability of an old character: fine-tuning starts from the old model's behaviour,
        not from a random guess that would spend its first steps unlearning arbitrary predictions;
      - a new character fed as input is read as the average character until training moves its row.
    Zero rows or biases would not do that: a zero logit can be far above or below the old ones.
    """
    if not 2 <= old_vocab <= new_vocab:
        raise ValueError(f"a vocabulary only grows: cannot go from {old_vocab} to {new_vocab} characters")
    missing = [k for k in GROWN if k not in state_dict]
    if missing:
        raise ValueError(f"not a CharLSTM state dict: {', '.join(missing)} missing")
    wrong = [f"{k} {tuple(state_dict[k].shape)}" for k in GROWN if state_dict[k].shape[0] != old_vocab]
    if wrong:
        raise ValueError(f"state dict does not have {old_vocab} characters: {', '.join(wrong)}")
    out = dict(state_dict)
    extra = new_vocab - old_vocab
    for k in GROWN if extra > 0 else ():  # nothing to add: the same tensors, in a new dict
        w = state_dict[k].detach()
        mean = w.to(torch.float64).mean(0, keepdim=True).to(w.dtype)  # float64: exact enough in any dtype
        out[k] = torch.cat([w, mean.expand(extra, *w.shape[1:])], 0)
    return out


def extended_config(model_config: ModelConfig, new_vocab: int) -> ModelConfig:
    """The same network for `new_vocab` characters (ConfigError if that is too big a model)."""
    if new_vocab < model_config.vocab_size:
        raise ValueError(f"a vocabulary only grows: cannot go from {model_config.vocab_size} to {new_vocab} characters")
    return dataclasses.replace(model_config, vocab_size=new_vocab)


# --- starting a run from a trained model -----------------------------------------------------------

SIZE_FIELDS = ("cell", "layers", "hidden", "embed")  # what the checkpoint fixes; dropout and weight drop may change
WHY = "measured on three small corpora: bench/RESULTS.md, Fine-tuning"


def check_size(parent: ModelConfig, asked: dict) -> None:
    """Refuse size options that disagree with the checkpoint being fine-tuned (one line)."""
    bad = [f"--{k} {asked[k]}" for k in SIZE_FIELDS if k in asked and asked[k] != getattr(parent, k)]
    if bad:
        raise ConfigError(f"{', '.join(bad)} {'disagrees' if len(bad) == 1 else 'disagree'} with the model being "
                          f"fine-tuned ({describe_size(parent)}): with --init-from the size comes from the "
                          "checkpoint; leave the option out")


def describe_size(cfg: ModelConfig) -> str:
    return f"{cfg.cell} {cfg.layers}x{cfg.hidden}, embed {cfg.embed}"


def lineage(parent: dict, source: str) -> list[dict]:
    """The lineage a run fine-tuned from `parent` records: the parent first, then its own ancestors."""
    entry = {"run_name": parent.get("run_name", ""), "source": source, "step": int(parent.get("step", 0)),
             "best_val_loss": parent.get("best_val_loss"), "corpus": [_base(p) for p in parent["corpus"]["paths"]],
             "vocab_size": int(parent["model_config"]["vocab_size"]), "saved_at": parent.get("saved_at", "")}
    return [entry, *parent.get("lineage", [])]


def _base(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def grown_config(parent: dict, new_vocab: int, changes: dict, styles: tuple[str, ...] = ()) -> ModelConfig:
    """The config a fine-tuning run starts from: the parent's, grown to `new_vocab` characters and to
    the `styles` of the new text it lacks (after its own), with `changes` (dropout, weight_drop) applied."""
    cfg = extended_config(ModelConfig.from_dict(parent["model_config"]), new_vocab)
    if cfg.styles and changes.get("style_embed", cfg.style_embed) != cfg.style_embed:
        raise ConfigError(f"--style-embed {changes['style_embed']} disagrees with the model being fine-tuned (its "
                          f"styles have {cfg.style_embed} values each); leave the option out")
    cfg = dataclasses.replace(cfg, styles=cfg.styles + tuple(n for n in styles if n not in cfg.styles))
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if k not in SIZE_FIELDS + ("styles",)})


def grown_weights(parent: dict, config: ModelConfig) -> dict[str, torch.Tensor]:
    """The fp32 weights a fine-tuning run starts from: the parent's, grown to `config`'s characters
    (extend_weights) and styles (grow_styles)."""
    weights = {k: v.float() if v.is_floating_point() else v for k, v in parent["model"].items()}
    old = ModelConfig.from_dict(parent["model_config"])
    return grow_styles(extend_weights(weights, old.vocab_size, config.vocab_size), old, config)


STYLE_INIT = 0.1  # the spread of a first set of style vectors


def grow_styles(weights: dict[str, torch.Tensor], old: ModelConfig, new: ModelConfig) -> dict[str, torch.Tensor]:
    """Weights for `new`'s styles from weights for `old`'s. A model without styles gets style vectors
    (random, small) and first-layer input columns for them that are zero, so it computes what it did
    until training moves them; a styled one gets a row per new style, the mean of the others (the new
    style starts as their even blend). Others pass through unchanged."""
    added = len(new.styles) - len(old.styles)
    if added <= 0:
        return weights
    out = dict(weights)
    if not old.styles:
        w = weights["rnn.weight_ih_l0"]
        out["rnn.weight_ih_l0"] = torch.cat([w, w.new_zeros(w.shape[0], new.style_embed)], 1)
        out["style.weight"] = torch.randn(added, new.style_embed) * STYLE_INIT
    else:
        table = weights["style.weight"]
        out["style.weight"] = torch.cat([table, table.mean(0, keepdim=True).expand(added, -1)], 0)
    return out


def describe_plan(plan: VocabPlan) -> str:
    """One line: how much of the new text the old vocabulary covered and what was added or mapped."""
    text = f"vocabulary: the model's {plan.old_vocab} characters cover {plan.coverage:.2%} of the new text"
    if plan.added:
        shown = ", ".join(repr(c) for c in plan.added[:SHOWN])
        more = f" and {len(plan.added) - SHOWN} more" if len(plan.added) > SHOWN else ""
        return f"{text}; added {len(plan.added)}: {shown}{more} (new rows start at the mean of the old ones)"
    if plan.mapping:
        target = next(iter(plan.mapping.values()))
        shown = ", ".join(repr(c) for c in list(plan.mapping)[:SHOWN])
        more = f" and {len(plan.mapping) - SHOWN} more" if len(plan.mapping) > SHOWN else ""
        return f"{text}; read as {target!r}: {shown}{more}"
    return f"{text}; nothing to add"
