"""`charlstm serve`'s app through Starlette's TestClient: every endpoint, the streamed text against
`charlstm sample`, and bad requests (each a 4xx with a JSON message, the server still answering).
TestClient reads a stream whole, so stopping mid-stream is tested against a real server in
test_serve_live.py."""

import json
import warnings
from pathlib import Path

import httpx  # noqa: F401  (declared test dependencies: a missing one fails, never skips)
import pytest
import starlette  # noqa: F401

with warnings.catch_warnings():  # starlette 1.x suggests httpx2 for its TestClient; httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402
from serve_support import cli_sample, events, shared_runs, text_of  # noqa: E402

from charlstm.playground.checks import MAX_LENGTH  # noqa: E402
from charlstm.playground.server import ASSETS, create_app, hostname  # noqa: E402


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return shared_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def app(root):
    return create_app(root, device="cpu")


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def generate(client, **body):
    r = client.post("/api/generate", json={"run": "run", **body})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return events(r.text)


def test_the_page_and_its_assets_are_served_from_the_package_with_a_strict_policy(client):
    r = client.get("/")
    assert r.status_code == 200 and "<title>charlstm playground</title>" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for name in ("app.js", "app.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/../serve.py").status_code == 404
    assert client.get("/static/%2e%2e/serve.py").status_code == 404


def test_the_page_is_offline_and_puts_model_text_in_as_text():
    for p in ASSETS.iterdir():
        text = p.read_text(encoding="utf-8")
        # the SVG namespace is a name, never fetched; nothing else may point off the machine
        assert "//" not in text.replace("http://www.w3.org/2000/svg", "").replace("// ", "").replace("//\n", ""), p
    js = (ASSETS / "app.js").read_text(encoding="utf-8")
    assert ".innerHTML" not in js and ".outerHTML" not in js and "insertAdjacentHTML(" not in js and "eval(" not in js


def test_runs_lists_the_runs_under_root_by_name(client):
    r = client.get("/api/runs")
    assert r.status_code == 200
    assert sorted(x["id"] for x in r.json()["runs"]) == ["big", "child", "run"]
    assert r.json()["limits"]["length"] == MAX_LENGTH


def test_runs_named_on_the_command_line_are_offered_beside_root(root, tmp_path):
    import shutil
    shutil.copytree(root / "run", tmp_path / "elsewhere")
    with TestClient(create_app(tmp_path / "empty-root", {"mine": tmp_path / "elsewhere"})) as c:
        assert [x["id"] for x in c.get("/api/runs").json()["runs"]] == ["mine"]
        assert c.get("/api/card", params={"run": "mine"}).json()["layers"] == 2


def test_the_page_opens_on_the_newest_run_and_lists_the_starter_last(root, tmp_path):
    """The page selects the first run listed: named runs first, then those under the root newest
    first (the run `charlstm sample` picks), then the starter; the same folder is listed once."""
    import os
    import shutil

    from charlstm.cli.serve import served_runs
    from charlstm.store import runs, starter
    for age, name in enumerate(["run", "child", "big"]):  # big is the oldest, run the newest
        for f in (root / name).glob("*.pt"):
            os.utime(f, ns=(10**18 - age * 10**12, 10**18 - age * 10**12))
    assert runs.locate(None, root) == root / "run"
    named, extra = served_runs([], root)
    assert named == {} and extra == {starter.NAME: starter.path()}
    with TestClient(create_app(root, named, extra=extra)) as c:
        assert [x["id"] for x in c.get("/api/runs").json()["runs"]] == ["run", "child", "big", starter.NAME]
        assert c.get("/api/card", params={"run": starter.NAME}).status_code == 200
    shutil.copytree(root / "big", tmp_path / "elsewhere")
    named, extra = served_runs([tmp_path / "elsewhere", root / "child"], root)
    with TestClient(create_app(root, named, extra=extra)) as c:  # named first; child not listed twice
        assert [x["id"] for x in c.get("/api/runs").json()["runs"]] == [str(tmp_path / "elsewhere"), "child", "run",
                                                                        "big", starter.NAME]
    assert served_runs(["starter"], root)[1] == {}  # a starter asked for by name is a named run


def test_a_slim_export_keeps_a_compact_curve_that_its_card_draws(root, client, tmp_path):
    from typer.testing import CliRunner

    from charlstm.cli import app
    from charlstm.export.slim import CURVE_POINTS, compact_curve
    out = tmp_path / "slim.pt"
    r = CliRunner().invoke(app, ["export", str(root / "run"), "--format", "pt", "-o", str(out), "--half"])
    assert r.exit_code == 0, r.output
    full = client.get("/api/card", params={"run": "run"}).json()["curves"]
    with TestClient(create_app(tmp_path / "empty-root", {"slim": out})) as c:
        card = c.get("/api/card", params={"run": "slim"}).json()
    assert card["curves"] == full and len(full["train"]) >= 4 and len(full["val"]) == 2  # the whole curve, as the run's
    log = [{"kind": "train", "step": i, "loss": 4.0 - i / 1000, "lr": 1e-3} for i in range(1, 1001)]
    kept = compact_curve([{"kind": "eval", "step": 1000, "val_loss": 3.1}], [*log, {"kind": "train", "step": 7}])
    train = [k for k in kept if k["kind"] == "train"]
    assert len(train) == CURVE_POINTS and train[0] == {"kind": "train", "step": 1, "loss": 3.999}
    assert [k["step"] for k in train[:3]] == [1, 6, 11] and kept[-1] == {"kind": "eval", "step": 1000, "val_loss": 3.1}


def test_the_run_card_holds_size_corpus_best_loss_lineage_and_curves(client):
    c = client.get("/api/card", params={"run": "child"}).json()
    assert (c["cell"], c["layers"], c["hidden"], c["embed"]) == ("lstm", 2, 24, 8)
    assert c["params"] > 0 and c["corpus"]["paths"][0].endswith("verse.txt") and c["step"] == 6
    assert c["best_val_loss"] > 0 and c["gates"] == ["input", "forget", "cell", "output"]
    assert c["lineage"] == [{"run_name": "parent", "step": 6, "best_val_loss": 2.5}]
    run = client.get("/api/card", params={"run": "run"}).json()
    assert run["lineage"] == [] and len(run["curves"]["train"]) >= 4 and len(run["curves"]["val"]) == 2


@pytest.mark.parametrize("opts", [
    dict(seed=1, length=200),
    dict(seed=2, length=75, prime="The lamp", temperature=0.7, top_k=5),
    dict(seed=3, length=40, temperature=1.3, top_p=0.8),
    dict(seed=6, length=60, temperature=1.4, min_p=0.2),
    dict(seed=4, length=33, temperature=0),
    dict(seed=5, length=0),
])
def test_the_streamed_text_is_what_charlstm_sample_prints(client, root, opts):
    evs = generate(client, **opts)
    names = [n for n, _ in evs]
    assert names[0] == "start" and names[-1] == "end" and "error" not in names
    start, end = evs[0][1], evs[-1][1]
    assert start["seed"] == str(opts["seed"]) and start["prime"] == opts.get("prime", "")
    text = text_of(evs)
    flags = {"prime": "--prime", "temperature": "--temp", "top_k": "--top-k", "top_p": "--top-p", "min_p": "--min-p"}
    args = [x for k, v in opts.items() if k in flags for x in (flags[k], v)]
    assert text + "\n" == cli_sample(root, "run", opts["seed"], opts["length"], *args)
    assert end == {"reason": "length", "generated": opts["length"]}


def test_a_pasted_text_is_learned_before_the_stream_and_the_served_model_stays_as_it_was(client, root):
    from charlstm.config import SampleConfig
    from charlstm.sampling.generate import generate_text
    from charlstm.store import checkpoint
    pasted = "The boats came home at dusk.\n" * 12
    plain = text_of(generate(client, seed=4, length=40, prime="A"))
    evs = generate(client, seed=4, length=40, prime="A", adapt=pasted)
    names = [n for n, _ in evs]
    assert names[:3] == ["adapting", "adapted", "start"] and "error" not in names
    assert evs[0][1] == {"chars": len(pasted)} and evs[1][1]["loss"] > 0 and evs[2][1]["prime"] == "A"
    model, tok = checkpoint.build_model(checkpoint.load(root / "run" / "best.pt"))
    assert text_of(evs) == generate_text(model, tok, SampleConfig(length=40, seed=4), "A", adapt=pasted)[0]
    assert text_of(evs) != plain
    assert text_of(generate(client, seed=4, length=40, prime="A")) == plain  # nothing leaked into the served model
    r = client.post("/api/generate", json={"run": "run", "adapt": 7})
    assert r.status_code == 400 and "adapt" in r.json()["error"]


def test_each_character_comes_with_its_probability_alternatives_and_the_watched_units_gates(client):
    evs = generate(client, seed=9, length=64, layer=1, unit=3, state="h")
    assert evs[0][1]["probe"] == {"layer": 1, "unit": 3, "state": "h"}
    rows = [row for n, rs in evs if n == "chars" for row in rs]
    assert len(rows) == 64
    for ch, p, top, top_p, act, gates in rows:
        assert 0 < p <= 1 and len(top) == 5 and top_p == sorted(top_p, reverse=True)
        assert p == top_p[top.index(ch)] if ch in top else p <= top_p[-1]
        assert -1 <= act <= 1 and len(gates) == 4 and all(-1 <= g <= 1 for g in gates)


def test_without_a_seed_the_server_draws_one_and_says_which(client, root):
    evs = generate(client, length=30)
    seed = int(evs[0][1]["seed"])
    assert text_of(evs) + "\n" == cli_sample(root, "run", seed, 30)


def test_inspect_colours_any_text_like_generation_does(client):
    text = "The lamp was lit\n"
    r = client.post("/api/inspect", json={"run": "run", "text": text, "layer": 0, "unit": 5})
    assert r.status_code == 200, r.text
    rows = r.json()["chars"]
    assert "".join(x[0] for x in rows) == text and rows[0][1] is None and rows[0][2] == []
    assert all(0 < x[1] <= 1 for x in rows[1:])
    # retracing a generation's context and text gives the activations it streamed
    evs = generate(client, seed=4, length=40, prime="The", layer=0, unit=5)
    gen = [row for n, rs in evs if n == "chars" for row in rs]
    again = client.post("/api/inspect", json={"run": "run", "text": evs[0][1]["context"] + text_of(evs),
                                               "layer": 0, "unit": 5}).json()["chars"][-40:]
    assert [x[0] for x in again] == [x[0] for x in gen]
    assert all(abs(a[4] - b[4]) < 1e-3 and abs(a[1] - b[1]) < 1e-3 for a, b in zip(again, gen))


def test_status_lists_finished_generations(client):
    generate(client, seed=1, length=10)
    s = client.get("/api/status").json()
    assert s["running"] == [] and s["limit"] == 4
    assert s["finished"][-1]["reason"] == "length" and s["finished"][-1]["generated"] == 10


BAD = [
    ({"run": "nope"}, 404, "no run"),
    ({"run": "../../etc/passwd"}, 404, "no run"),
    ({"run": "/etc/passwd"}, 404, "no run"),
    ({"run": 3}, 404, "no run"),
    ({}, 404, "no run"),
    ({"temperature": "hot"}, 400, "temperature"),
    ({"temperature": -1}, 400, "temperature"),
    ({"temperature": True}, 400, "temperature"),
    ({"length": MAX_LENGTH + 1}, 400, "length"),
    ({"length": 10**30}, 400, "length"),
    ({"length": -1}, 400, "length"),
    ({"length": 2.5}, 400, "length"),
    ({"top_k": 0}, 400, "top_k"),
    ({"top_p": 0}, 400, "top_p"),
    ({"top_p": 1.5}, 400, "top_p"),
    ({"seed": -1}, 400, "seed"),
    ({"seed": 2**63}, 400, "seed"),
    ({"seed": "12a"}, 400, "seed"),
    ({"prime": "€uro"}, 400, "€"),
    ({"prime": 5}, 400, "prime"),
    ({"prime": "a" * (MAX_LENGTH + 1)}, 413, "prime"),
    ({"layer": 2}, 400, "layer"),
    ({"unit": 24}, 400, "unit"),
    ({"state": "x"}, 400, "state"),
    ({"skip_unknown": "yes"}, 400, "skip_unknown"),
    ({"bogus": 1}, 400, "unknown field"),
]


@pytest.mark.parametrize("body,status,says", BAD)
def test_a_bad_generation_request_is_a_4xx_with_a_json_message(client, body, status, says):
    r = client.post("/api/generate", json={"run": "run", **body} if "run" not in body and body != {} else body)
    assert r.status_code == status, r.text
    assert says in r.json()["error"]
    assert client.get("/api/runs").status_code == 200  # and the server carries on


@pytest.mark.parametrize("raw,status,says", [
    (b'{"run": "run", "temperature": NaN}', 400, "JSON"),
    (b'{"run": "run", "temperature": Infinity}', 400, "JSON"),
    (b'{"run": "run", "temperature": 1e999}', 400, "temperature"),
    (b'{"run": "run"', 400, "JSON"),
    (b"[1, 2]", 400, "object"),
    (b"\xff\xfe", 400, "JSON"),
    (b"[" * 100_000, 400, "JSON"),
    (b" " * 300_000, 413, "bytes"),
])
def test_bad_json_is_refused(client, raw, status, says):
    r = client.post("/api/generate", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert says in r.json()["error"]


def test_only_json_is_accepted_so_other_sites_cannot_post_forms(client):
    r = client.post("/api/generate", content=json.dumps({"run": "run"}), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]


@pytest.mark.parametrize("method,path,status", [("GET", "/api/generate", 405), ("GET", "/api/nothing", 404),
                                                ("GET", "/api/card?run=../../etc/passwd", 404),
                                                ("GET", "/api/card", 404)])
def test_wrong_paths_and_methods_answer_json(client, method, path, status):
    r = client.request(method, path)
    assert r.status_code == status and "error" in r.json()


@pytest.mark.parametrize("body,status,says", [
    ({"text": ""}, 400, "nothing to inspect"),
    ({"text": "€€€"}, 400, "nothing to inspect"),
    ({"text": "a" * (MAX_LENGTH + 1)}, 413, "text"),
    ({"text": "The", "unit": -1}, 400, "unit"),
    ({"text": ["The"]}, 400, "text"),
])
def test_a_bad_inspect_request_is_a_4xx(client, body, status, says):
    r = client.post("/api/inspect", json={"run": "run", **body})
    assert r.status_code == status and says in r.json()["error"]


def test_stopping_an_unknown_generation_is_a_404(client):
    assert client.post("/api/stop", json={"id": "0123"}).status_code == 404
    assert client.post("/api/stop", json={"id": ["x"]}).status_code == 404


def test_more_generations_than_the_limit_get_a_429(app, client):
    reg = app.state.registry
    held = [reg.start("run", 10) for _ in range(reg.limit)]
    try:
        r = client.post("/api/generate", json={"run": "run", "length": 5})
        assert r.status_code == 429 and "running already" in r.json()["error"]
        assert client.post("/api/inspect", json={"run": "run", "text": "The"}).status_code == 429
    finally:
        for g in held:
            reg.finish(g, "length")
    assert client.post("/api/generate", json={"run": "run", "length": 5}).status_code == 200


def test_other_host_names_are_refused_when_serving_this_machine(root):
    from charlstm.playground.server import LOOPBACK_HOSTS
    with TestClient(create_app(root, hosts=LOOPBACK_HOSTS)) as c:
        assert c.get("/api/runs", headers={"Host": "evil.example:8000"}).status_code == 400
        for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "localhost"):
            assert c.get("/api/runs", headers={"Host": host}).status_code == 200, host
    assert hostname("[::1]:80") == "::1" and hostname("Example.org:1") == "example.org" and hostname("::1") == "::1"
