"""Training: what the user asked (`request`), what the run will be and why (`plan`), the three setups
that build a run (`setup`: new, fine-tuned, resumed), starting and continuing one (`start`), the
loop over it (`loop`), and what they decide with: schedule, sizing, precision, distributed,
fine-tuning, gradients, evaluation.

May import the leaves, the concepts, `store`, `data` and `sampling` (preview samples); never insight
or above.
"""
