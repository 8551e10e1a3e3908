"""Sampling: generating text from a trained model (`generate`), the one-step engines it runs on
(`engines`), a checkpoint opened for sampling and its rounds of text as `charlstm sample` writes
them (`sampler`), and how much of a sample is copied from the training text (`novelty`).

May import the leaves, the concepts, `store` and `data`; never training, insight or above.
"""
