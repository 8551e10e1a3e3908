"""Storage: what a run folder holds and which run a user means (`runs`), one checkpoint file saved
atomically and loaded safely (`checkpoint`), the starter model shipped in `assets/` (`starter`), the
runs under a folder as `charlstm runs` lists them (`listing`), the one way the package writes a
file (`files`), and what differs by operating system in files and processes (`portable`).

May import the leaves and the concepts (tokenizer, model) only.
"""
