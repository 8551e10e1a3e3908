"""Data: reading text files, the token file, the corpus and its train/validation split, the lanes and
windows of truncated BPTT (`windows`), style labels on the text (`labels`), and the corpora
`charlstm corpora` lists and downloads (`corpora`).

May import the leaves, the concepts (tokenizer, model) and `store`; never training, sampling or above.
"""
