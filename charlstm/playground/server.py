"""The browser playground's server: a Starlette app that serves the page in assets/serve/, lists
the runs it may show, streams generations as server-sent events and inspects text.

Requests name runs by the ids of the server's own list (catalog.py), never by path. Every request is
checked before any work (checks.py): a bad one is a 4xx with a JSON `{"error": ...}` and the
server carries on.
Generation runs in a worker thread per request (at most MAX_RUNNING at once, a 429 beyond) feeding
the event loop through a queue; it stops at the next block when the client goes away, asks to stop
(/api/stop) or the server shuts down. Imported only by `charlstm serve` (starlette is an optional
extra); knows nothing of the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import torch
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..adapt.dynamic import CONTEXT, adapted_copy
from ..data.textfiles import known_ids
from ..errors import CharLSTMError, CheckpointError
from ..model import in_style
from .catalog import Catalog, Loaded, UnknownRun, card
from .checks import (
    MAX_BODY,
    MAX_LENGTH,
    MAX_TEXT,
    RequestError,
    adapt_text,
    generate_options,
    inspect_options,
    only,
    parse_json,
    style_spec,
)
from .session import Char, Session, gate_names, inspect

ASSETS = Path(__file__).parents[1] / "assets" / "serve"
MAX_RUNNING = 4  # generations and inspections at once; more are refused with 429
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                           "base-uri 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@dataclass
class Generation:
    id: str
    run: str
    length: int
    stop_event: threading.Event = field(default_factory=threading.Event)
    generated: int = 0
    reason: str | None = None

    def stop(self) -> None:
        self.stop_event.set()

    def record(self) -> dict:
        return {"id": self.id, "run": self.run, "length": self.length, "generated": self.generated,
                "reason": self.reason}


class Registry:
    """The generations and inspections running now (at most `limit`) and the last ones finished."""

    def __init__(self, limit: int = MAX_RUNNING):
        self.limit, self.lock = limit, threading.Lock()
        self.running: dict[str, Generation] = {}
        self.finished: deque[dict] = deque(maxlen=50)

    def start(self, run: str, length: int) -> Generation:
        with self.lock:
            if len(self.running) >= self.limit:
                raise RequestError(429, f"{self.limit} generations are running already; stop one or wait")
            gen = Generation(secrets.token_hex(8), run, length)
            self.running[gen.id] = gen
            return gen

    def finish(self, gen: Generation, reason: str) -> None:
        with self.lock:
            gen.reason = gen.reason or reason
            self.running.pop(gen.id, None)
            self.finished.append(gen.record())

    def stop_all(self) -> None:
        with self.lock:
            for gen in self.running.values():
                gen.reason = gen.reason or "shutdown"
                gen.stop()


# ---- what goes to and from the page ----------------------------------------------------------------
async def read_json(request: Request) -> dict:
    """The request's JSON object (checks.parse_json). Other content types are refused: a page on
    another site cannot send JSON here without CORS, which this server never grants."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise RequestError(415, "send the request as Content-Type: application/json")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise RequestError(413, f"the request body is over {MAX_BODY:,} bytes")
    return parse_json(bytes(raw))


def char_row(c: Char) -> list:
    """[char, p, [top chars], [top p], activation, [gates]], rounded for the wire."""
    return [c.ch, None if c.p is None else round(c.p, 4), [t[0] for t in c.top], [round(t[1], 4) for t in c.top],
            round(c.act, 4), [round(g, 4) for g in c.gates]]


def sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"  # json.dumps escapes line breaks: one data line


def _shown_prime(tok, prime: str, skip_unknown: bool) -> str:
    """The prime as `charlstm sample` echoes it: normalized, unknown characters left out."""
    from ..tokenizer import normalize
    tok.encode(prime, skip_unknown=skip_unknown)  # an unknown character is refused (PrimeError) unless skipped
    return "".join(c for c in normalize(prime, tok.normalization) if c in tok.stoi)


# ---- the worker thread and the event stream --------------------------------------------------------
def _sender(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue):
    def put(item: str | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop has closed: nobody is listening any more
            pass
    return put


def device_turn(device: str) -> AbstractContextManager:
    """What a worker holds while it computes on `device`: nothing on the CPU, where threads share
    it well; one lock for an accelerator, which is not safe to drive from several threads at once
    (MPS), so generations there take turns block by block."""
    return contextlib.nullcontext() if torch.device(device).type == "cpu" else threading.Lock()


def in_turns(items: Iterator, turn: AbstractContextManager) -> Iterator:
    """The items of `items`, each computed while holding `turn`, and handed on after letting go."""
    while True:
        with turn:
            item = next(items, _DONE)
        if item is _DONE:
            return
        yield item


_DONE = object()


def _work(gen: Generation, got: Loaded, opts: tuple, registry: Registry, put, turn: AbstractContextManager) -> None:
    """One generation in its own thread: events to `put` (the start, a `chars` event per block, the
    end), then None; its computing is done holding `turn` (device_turn). A failure ends this stream
    with an `error` event, never the server."""
    cfg, prime, skip, probe, shown, adapt = opts
    reason = "error"
    try:
        model, before = got.model, ""
        if adapt:  # a copy learns the pasted text; the served model stays as it was for other requests
            ids, _ = known_ids(adapt, got.tok)
            if len(ids) >= 2:
                put(sse("adapting", {"chars": len(ids)}))
                with turn:
                    model, loss = adapted_copy(got.model, ids)
                put(sse("adapted", {"chars": len(ids), "loss": round(loss, 4)}))
                before = got.tok.decode(ids[-CONTEXT:])
        with turn:
            s = Session(model, got.tok, cfg, before + prime, skip, probe)
        put(sse("start", {"id": gen.id, "seed": str(cfg.seed), "prime": shown, "context": s.context,
                          "gates": list(gate_names(got.model)), "probe": vars(s.probe)}))
        for block in in_turns(s.blocks(gen.stop_event.is_set), turn):
            gen.generated += len(block)
            put(sse("chars", [char_row(c) for c in block]))
        reason = "length" if gen.generated >= cfg.length else "stopped"
    except Exception as e:  # a bug or a vanished device must not take the server down
        put(sse("error", {"error": str(e) if isinstance(e, CharLSTMError) else f"internal error ({type(e).__name__})"}))
    finally:
        registry.finish(gen, reason)
        put(sse("end", {"reason": gen.reason, "generated": gen.generated}))
        put(None)


class EventStream(StreamingResponse):
    """A generation's server-sent events. Whatever ends the response (the last event, the client
    going away, the server stopping), the generation is told to stop. Events waiting in the queue
    go out together, so a slow client gets fewer, larger writes."""

    def __init__(self, gen: Generation, queue: asyncio.Queue):
        super().__init__(self._events(queue), media_type="text/event-stream",
                         headers={"Cache-Control": "no-store", "X-Generation-Id": gen.id, "X-Accel-Buffering": "no"})
        self.gen = gen

    @staticmethod
    async def _events(queue: asyncio.Queue):
        while True:
            parts = [await queue.get()]
            while not queue.empty():
                parts.append(queue.get_nowait())
            text = "".join(p for p in parts if p is not None)
            if text:
                yield text
            if parts[-1] is None:
                return

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.gen.stop()


# ---- routes ----------------------------------------------------------------------------------------
async def page(request: Request) -> FileResponse:
    return FileResponse(ASSETS / "index.html", headers=PAGE_HEADERS)


async def list_runs(request: Request) -> JSONResponse:
    found = await anyio.to_thread.run_sync(request.app.state.catalog.listing)
    return JSONResponse({"runs": [{"id": k} for k in found],
                         "limits": {"length": MAX_LENGTH, "text": MAX_TEXT, "running": MAX_RUNNING}})


async def run_card(request: Request) -> JSONResponse:
    catalog = request.app.state.catalog
    run_id = request.query_params.get("run")
    got = await anyio.to_thread.run_sync(catalog.load, run_id)
    return JSONResponse(card(run_id, got))


async def _styled(catalog: Catalog, d: dict, turn: AbstractContextManager) -> Loaded:
    """The run a request names, its model in the style the request asks for (model.in_style: a copy with
    the blend folded in, on the device, in `turn`; the served model is not changed)."""
    got = await anyio.to_thread.run_sync(catalog.load, d.get("run"))

    def fold():
        with turn:
            return in_style(got.model, style_spec(d))
    model = await anyio.to_thread.run_sync(fold)
    return dataclasses.replace(got, model=model)


async def generate(request: Request) -> EventStream:
    state = request.app.state
    d = await read_json(request)
    cfg, prime, skip, probe = generate_options(d)
    adapt = adapt_text(d)
    got = await _styled(state.catalog, d, state.turn)
    probe = probe.check(got.model)
    shown = _shown_prime(got.tok, prime, skip)
    gen = state.registry.start(d["run"], cfg.length)  # no await since the check: the limit holds
    queue: asyncio.Queue = asyncio.Queue()
    put = _sender(asyncio.get_running_loop(), queue)
    threading.Thread(target=_work, args=(gen, got, (cfg, prime, skip, probe, shown, adapt), state.registry, put,
                                         state.turn),
                     name=f"charlstm-generate-{gen.id}", daemon=True).start()
    return EventStream(gen, queue)


async def stop(request: Request) -> JSONResponse:
    d = await read_json(request)
    only(d, {"id"})
    gen = request.app.state.registry.running.get(d.get("id")) if isinstance(d.get("id"), str) else None
    if gen is None:
        raise RequestError(404, "no such generation running (it may have finished)")
    gen.stop()
    return JSONResponse({"stopped": gen.id})


async def inspect_text(request: Request) -> JSONResponse:
    state = request.app.state
    d = await read_json(request)
    text, probe = inspect_options(d)
    got = await _styled(state.catalog, d, state.turn)
    probe = probe.check(got.model)
    if not got.tok.encode(text, skip_unknown=True):
        raise RequestError(400, "nothing to inspect: the text has no character the model knows")
    gen = state.registry.start(d["run"], len(text))

    def work() -> list[list]:
        try:
            return [char_row(c) for block in in_turns(inspect(got.model, got.tok, text, probe, gen.stop_event.is_set),
                                                      state.turn) for c in block]
        finally:
            state.registry.finish(gen, "inspected")
    try:
        rows = await anyio.to_thread.run_sync(work)
    finally:
        gen.stop()
    return JSONResponse({"chars": rows, "gates": list(gate_names(got.model)), "probe": vars(probe)})


async def status(request: Request) -> JSONResponse:
    reg = request.app.state.registry
    with reg.lock:
        return JSONResponse({"running": [g.record() for g in reg.running.values()], "limit": reg.limit,
                             "finished": list(reg.finished)})


# ---- errors, hosts, the app ------------------------------------------------------------------------
async def _error(request: Request, e: Exception) -> JSONResponse:
    if isinstance(e, RequestError):
        return JSONResponse({"error": str(e)}, e.status)
    if isinstance(e, UnknownRun):
        return JSONResponse({"error": str(e.args[0])}, 404)
    if isinstance(e, HTTPException):
        return JSONResponse({"error": str(e.detail)}, e.status_code, headers=e.headers)
    if isinstance(e, CheckpointError):
        return JSONResponse({"error": f"the run could not be loaded: {e}"}, 422)
    if isinstance(e, CharLSTMError):
        return JSONResponse({"error": str(e)}, 400)
    if isinstance(e, OSError):
        return JSONResponse({"error": f"the run's files could not be read: {e.strerror or e}"}, 404)
    return JSONResponse({"error": f"internal error ({type(e).__name__}); the server carries on"}, 500)


def hostname(host: str) -> str:
    """The name in a Host header: 'localhost:8000' -> 'localhost', '[::1]:8000' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class KnownHosts:
    """Refuses requests whose Host header names a host other than `hosts` (a page elsewhere whose
    name is made to resolve to 127.0.0.1, 'DNS rebinding', would otherwise reach the server)."""

    def __init__(self, app, hosts: tuple[str, ...] | None):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.hosts is not None:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if hostname(host) not in self.hosts:
                await JSONResponse({"error": f"unknown host {host[:80]!r}"}, 400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(root: Path, named: dict[str, Path] | None = None, device: str = "cpu",
               hosts: tuple[str, ...] | None = None, limit: int = MAX_RUNNING,
               extra: dict[str, Path] | None = None) -> Starlette:
    """The playground app for the runs in `named` (id -> run folder or checkpoint file), those under
    `root` and those in `extra`, listed in that order (Catalog). `hosts`: the Host names accepted
    (None: any). Its state holds the catalog and the registry of running generations
    (`app.state.registry.stop_all()` ends them)."""
    from contextlib import asynccontextmanager

    from starlette.middleware import Middleware

    registry = Registry(limit)

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            registry.stop_all()

    routes = [Route("/", page), Route("/api/runs", list_runs), Route("/api/card", run_card),
              Route("/api/generate", generate, methods=["POST"]), Route("/api/stop", stop, methods=["POST"]),
              Route("/api/inspect", inspect_text, methods=["POST"]), Route("/api/status", status),
              Mount("/static", StaticFiles(directory=ASSETS), name="static")]
    handlers = {k: _error for k in (RequestError, UnknownRun, HTTPException, CharLSTMError, OSError, Exception)}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan,
                    middleware=[Middleware(KnownHosts, hosts=hosts)])
    app.state.catalog = Catalog(root, named, device, extra)
    app.state.registry = registry
    app.state.turn = device_turn(device)
    return app
