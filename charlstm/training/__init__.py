"""Training: starting a run and continuing one (`start`), the loop over it (`loop`), and what the loop
decides with: schedule, sizing, precision, distributed, fine-tuning, gradients, evaluation.

May import the leaves, the concepts, `store`, `data` and `sampling` (preview samples); never insight
or above.
"""
