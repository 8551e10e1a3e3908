"""Write the command-line reference (docs/cli.md) from the real CLI, so the two cannot drift:

    python -m charlstm.cli.docs > docs/cli.md

tests/cli/test_docs.py fails when docs/cli.md differs from what this prints.
"""

from __future__ import annotations

from enum import Enum

import typer

from .launch import build


def default_text(p) -> str:
    """What --help shows as the default: a `show_default` string (a default computed at run time,
    e.g. "from --preset") or the default value; "" when there is none to show."""
    if p.param_type_name == "option" and p.is_flag:
        return "off" if not p.default else "on"
    if isinstance(p.show_default, str):
        return p.show_default
    if p.default is None or p.default == () or p.default == []:
        return ""
    if isinstance(p.default, (list, tuple)):
        return ", ".join(str(x) for x in p.default)
    return str(p.default.value if isinstance(p.default, Enum) else p.default)


def _clean(text: str | None) -> str:
    import re
    text = re.sub(r"\[/?(bold|dim|red|yellow)?\]", "", text or "").replace("\\[", "[")
    return " ".join(text.split()).replace("|", "\\|")


def _command(name: str, cmd, out: list[str], level: int = 2) -> None:
    out.append(f"{'#' * level} charlstm {name}\n")
    doc = (cmd.help or "").strip()
    for para in doc.split("\n\n"):
        para = para.strip()
        if para.startswith("[bold]"):
            out.append(f"```\n{_clean(para)}\n```\n")
        elif para:
            out.append(_clean(para) + "\n")
    args = [p for p in cmd.params if p.param_type_name == "argument"]
    opts = [p for p in cmd.params if p.param_type_name == "option" and not p.hidden and p.name != "help"]
    if args:
        out.append("| argument | default | help |\n|---|---|---|")
        for a in args:
            shown = "required" if a.required else _clean(default_text(a))
            out.append(f"| `{a.human_readable_name}` | {shown} | {_clean(getattr(a, 'help', ''))} |")
        out.append("")
    if opts:
        out.append("| option | default | help |\n|---|---|---|")
        for o in opts:
            names = ", ".join(f"`{n}`" for n in [*o.opts, *o.secondary_opts])
            out.append(f"| {names} | {_clean(default_text(o))} | {_clean(o.help)} |")
        out.append("")
    if hasattr(cmd, "commands"):
        for sub_name, sub in cmd.commands.items():
            _command(f"{name} {sub_name}", sub, out, level + 1)


def render() -> str:
    root = typer.main.get_command(build())
    out = ["# charlstm command-line reference\n",
           "Generated from the CLI by `python -m charlstm.cli.docs > docs/cli.md` (a test checks it is current).",
           "Every command also answers `--help`.\n"]
    for name, cmd in root.commands.items():
        _command(name, cmd, out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
