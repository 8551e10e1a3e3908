"""Self-contained HTML and SVG pictures of what a network does (no plotting library needed).

`activation_html` colours each character by one unit's activation; `saturation_svg` draws, per
gate, each unit as a point at (fraction of time left-saturated, fraction right-saturated).
Knows nothing of models or the terminal: it is given numbers and returns text.
"""

from __future__ import annotations

import html

import numpy as np

PALETTE = {"input": "#1f77b4", "forget": "#d62728", "output": "#2ca02c", "reset": "#9467bd", "update": "#ff7f0e"}


def colour(v: float) -> str:
    """Activation in [-1, 1] -> a CSS background: red for positive, blue for negative."""
    v = max(-1.0, min(1.0, float(v)))
    return f"rgba(214,39,40,{v:.2f})" if v >= 0 else f"rgba(31,119,180,{-v:.2f})"


def activation_html(chars: list[str], values: np.ndarray, title: str) -> str:
    spans = []
    for ch, v in zip(chars, values):
        text = "&#8629;<br>" if ch == "\n" else html.escape(ch).replace(" ", "&nbsp;")
        spans.append(f'<span title="{float(v):+.3f}" style="background:{colour(v)}">{text}</span>')
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font:14px/1.6 monospace;margin:2em;max-width:60em}span{white-space:pre}"
            ".k span{padding:0 .4em}</style></head><body>"
            f"<h3>{html.escape(title)}</h3><p class='k'>"
            f"<span style='background:{colour(-1)}'>-1</span><span style='background:{colour(0)}'>0</span>"
            f"<span style='background:{colour(1)}'>+1</span> (hover a character for its value)</p>"
            f"<p>{''.join(spans)}</p></body></html>\n")


def saturation_svg(layers: list[dict[str, tuple[np.ndarray, np.ndarray]]], title: str, size: int = 260) -> str:
    """One square panel per layer; in each, every unit of every gate is a dot at
    (left-saturated fraction, right-saturated fraction)."""
    pad, gap = 40, 30
    width = pad + len(layers) * (size + gap)
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{size + 2 * pad + 20}' "
             "font-family='sans-serif' font-size='11'>",
             f"<text x='{pad}' y='16' font-size='13'>{html.escape(title)}</text>"]
    for li, gates in enumerate(layers):
        x0, y0 = pad + li * (size + gap), pad
        parts.append(f"<rect x='{x0}' y='{y0}' width='{size}' height='{size}' fill='none' stroke='#999'/>")
        parts.append(f"<line x1='{x0}' y1='{y0}' x2='{x0 + size}' y2='{y0 + size}' stroke='#ddd'/>")
        parts.append(f"<text x='{x0}' y='{y0 - 6}'>layer {li}</text>")
        parts.append(f"<text x='{x0 + size / 2 - 40}' y='{y0 + size + 16}'>left-saturated</text>")
        parts.append(f"<text transform='translate({x0 - 8},{y0 + size / 2 + 40}) rotate(-90)'>right-saturated</text>")
        for gi, (gate, (left, right)) in enumerate(gates.items()):
            col = PALETTE.get(gate, "#555")
            parts.append(f"<text x='{x0 + size - 60}' y='{y0 + 14 + 13 * gi}' fill='{col}'>{gate}</text>")
            for lx, ry in zip(left, right):
                parts.append(f"<circle cx='{x0 + lx * size:.1f}' cy='{y0 + (1 - ry) * size:.1f}' r='1.8' "
                             f"fill='{col}' fill-opacity='0.6'/>")
    parts.append("</svg>\n")
    return "".join(parts)
