"""The browser playground: the runs it offers (`catalog`), what the page shows per character
(`session`), the checks on every request (`checks`) and the Starlette app (`server`, optional extra).

May import everything below it; never cli.
"""
