"""`charlstm serve`: the playground in the browser. The server is the library's
(playground/server.py); this command picks the runs, binds the address, says where it is and
stops cleanly on Ctrl-C. starlette and uvicorn (the optional 'serve' extra) and torch are imported
only when it runs."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from ..errors import CharLSTMError
from .options import Device, Root, Threads

MISSING = "charlstm serve needs the optional 'serve' extra: pip install 'charlstm[serve]'"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def served_runs(targets: list[Path], root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """(id -> path for the runs named on the command line, each of which must exist; the same for
    the packaged starter model when there is one and it was not named). The page lists the named
    runs first, then those under --root (found by the server itself, newest first), then the starter."""
    from ..store import runs
    named: dict[str, Path] = {}
    for t in targets:
        p = runs.locate(t, root)
        named[runs.name_of(p, root) if _under(p, root) else str(t)] = p
    try:
        from ..store import starter
    except ImportError:  # a charlstm without a packaged starter model
        starter = None
    path = starter.path() if starter is not None else None
    extra = {starter.NAME: Path(path)} if path is not None and starter.NAME not in named else {}
    return named, extra


def _under(p: Path, root: Path) -> bool:
    return Path(p).resolve().is_relative_to(Path(root).resolve())


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts: a port in use is one clear line, the
    address printed already answers, and --port 0 (any free port) prints the real one. The standard
    library's create_server sets SO_REUSEADDR only where it cannot let a second server take a port
    in use (on Windows it would), so "in use" is reported on every platform."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # from here a connection waits in the backlog until the server accepts it
        return socket.create_server((host.strip("[]"), port), family=family, backlog=128)
    except OSError as e:  # create_server adds the address to strerror: the errno's own words are enough
        why = os.strerror(e.errno) if e.errno else str(e)
        raise CharLSTMError(f"cannot listen on {host}:{port}: {why}"
                            f"{' (choose another --port)' if port else ''}") from None


def serve(
    targets: Annotated[list[Path] | None, typer.Argument(
        metavar="[RUN]...", help="More runs to offer: run folders, checkpoint files or run names.",
        show_default="only the runs under --root")] = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free "
                                      "port).")] = 8000,
    host: Annotated[str, typer.Option("--host", help="Address to listen on. The default answers only this "
                                      "machine; any other address lets others on the network use the "
                                      "server.")] = "127.0.0.1",
    root: Root = Path("checkpoints"),
    device: Device = "auto",
    threads: Threads = None,
) -> None:
    """Play with your models in the browser: text streamed as it is sampled, coloured by confidence or a cell.

    [bold]charlstm serve[/]

    Open the address it prints; Ctrl-C stops it. It offers the runs named here, then those under --root
    (newest first: the page opens on the run charlstm sample would pick), then the packaged starter.

    The same options and seed give the same text as [bold]charlstm sample[/].

    Hovering a character shows the five likeliest characters there and the watched cell's gates at that step.
    """
    try:
        import uvicorn

        from ..playground import server
    except ImportError:
        raise CharLSTMError(MISSING) from None
    import torch

    from ..devices import resolve_device
    from .tables import stderr_console

    if threads:
        torch.set_num_threads(threads)
    # full fp32 for the whole process, as `charlstm sample` uses (devices.exact_math): generations
    # in several threads then never see each other switch TF32 back on
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    err = stderr_console()
    named, extra = served_runs(list(targets or []), root)
    dev = resolve_device(device)
    local = is_loopback(host)
    if not local:
        err.print(f"[yellow]warning: listening on {host}, not only this machine: anyone who can reach it may "
                  "use this server and read the runs it offers[/]", highlight=False)
    sock = _bind(host, port)
    app = server.create_app(root, named, str(dev), hosts=server.LOOPBACK_HOSTS if local else None, extra=extra)
    if not named and not app.state.catalog.listing():
        err.print(f"[yellow]no runs under {root}/ yet: train one (charlstm train CORPUS), then reload the page[/]",
                  highlight=False)
    shown = f"[{sock.getsockname()[0]}]" if sock.family == socket.AF_INET6 else host
    typer.echo(f"charlstm playground: http://{shown}:{sock.getsockname()[1]}/")
    err.print("[dim]Ctrl-C stops it[/]")
    _run(uvicorn, app, sock)


def _run(uvicorn, app, sock: socket.socket) -> None:
    """Serve until Ctrl-C (exit 0) or SIGTERM; the running generations are stopped at once (each ends
    within one block), so the server's graceful shutdown does not wait for them to finish."""

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.state.registry.stop_all()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3, lifespan="on")
    try:
        Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has shut down: the normal way out
        pass
    finally:
        app.state.registry.stop_all()
        sock.close()
