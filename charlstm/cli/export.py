"""`charlstm export`: a trained model in a form to share: a slim .pt, one .onnx file with a
torch-free sampler beside it, or a web page that samples in the browser."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from .common import check_output
from .options import Last, Root, RunArg, output_file


class Format(str, Enum):
    pt = "pt"
    onnx = "onnx"
    web = "web"


SUFFIX = {Format.pt: ".pt", Format.onnx: ".onnx", Format.web: "-web"}
Output = output_file("File to write (pt, onnx) or folder to fill (web; created if missing).",
                     "RUN.pt, RUN.onnx or RUN-web/ here")


def export(
    run: RunArg = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="pt: a slim checkpoint (weights, vocabulary, configs; "
                                        "needs charlstm and torch); onnx: one .onnx file and sample_onnx.py beside "
                                        "it (needs numpy and onnxruntime); web: a folder with index.html that "
                                        "samples in a browser, opened from disk.")] = Format.onnx,
    output: Output = None,
    half: Annotated[bool, typer.Option("--half", help="Store the weights as float16 (half the size); --format pt "
                                       "only.")] = False,
    last: Last = False,
    root: Root = Path("checkpoints"),
) -> None:
    """Write a trained model in a form to share:

    [bold]charlstm export myrun --format onnx -o myrun.onnx[/]

    [bold]charlstm export myrun --format web -o myrun-web[/]
    """
    if half and fmt is not Format.pt:
        raise ConfigError("--half applies to --format pt only")
    if fmt is Format.onnx:
        from ..export.onnxfile import require_extra
        require_extra()  # before anything is read
    from ..store import runs
    from .tables import stderr_console

    path = runs.checkpoint_path(run, root, last)
    if output is None:
        output = Path((path.parent.name if runs.is_run(path.parent) else path.stem) + SUFFIX[fmt])
    _check_target(output, fmt)
    saved = _read(path, fmt)
    err = stderr_console()
    source = path.stat().st_size
    if fmt is Format.pt:
        from ..export.slim import export_pt
        log = runs.read_metrics(path.parent)[0] if runs.is_run(path.parent) else []
        size = export_pt(saved, output, half=half, log=log)
        err.print(f"wrote {output} ({_mb(size)}; the checkpoint {path} is {_mb(source)})", markup=False)
    elif fmt is Format.onnx:
        _onnx(saved, output, path, source, err)
    else:
        from ..export.webpage import export_web
        sizes = export_web(saved, output)
        err.print(f"wrote {output}/ ({_mb(sum(sizes.values()))}; the checkpoint {path} is {_mb(source)}); open "
                  f"{output / 'index.html'} in a browser", markup=False)


def _read(path: Path, fmt: Format) -> dict:
    """The checkpoint, validated. The web page needs only the weights as numbers, so it is read without
    torch where the torch-free reader follows the file (an install without torch exports pages too)."""
    if fmt is Format.web:
        from ..store.arrays import load_any
        return load_any(path)
    from ..store import checkpoint
    return checkpoint.load(path, map_location="cpu")


def _onnx(saved: dict, output: Path, path: Path, source: int, err) -> None:
    from ..export.onnxfile import export_onnx, write_sampler
    size, diff = export_onnx(saved, output)
    script = write_sampler(output.parent)
    err.print(f"wrote {output} ({_mb(size)}; the checkpoint {path} is {_mb(source)}); onnxruntime matches torch "
              f"within {diff:.1g}", markup=False)
    err.print(f"sample without torch (numpy and onnxruntime only): python {script} {output} --prime 'The ' "
              "--temp 0.8", markup=False)


def _check_target(output: Path, fmt: Format) -> None:
    """Say what is wrong with the output path before any work."""
    if fmt is not Format.web:
        check_output(output, "--output")
        return
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {output} is a file; --format web fills a folder")
    if output.is_dir():
        check_output(output / "index.html", "--output")
    else:  # the folder is created: its parent must exist and be writable
        check_output(output, "--output")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"
