"""Insight: what makes the ideas visible: the gates recomputed step by step (`gates`), LSTM vs GRU vs
RNN on the same text (`compare`), HTML/SVG pictures (`pictures`) and loss curves (`curves`).

May import everything below it, training and sampling included; never export, playground or cli.
"""
