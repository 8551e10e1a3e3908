"""Adapting a trained model to a text as it reads it: dynamic evaluation (`dynamic`).

May import the leaves, the concepts, `store` and `data`; never sampling, training or above.
"""
