"""`charlstm serve` refuses bad requests: each is a 4xx with a JSON message, and the server goes on
answering."""

import json

import httpx  # noqa: F401  (declared test dependencies: a missing one fails, never skips)
import pytest
import starlette  # noqa: F401
from serve_support import app, client, client_for, generate, root  # noqa: F401  (fixtures)

from charlstm.playground.checks import MAX_LENGTH
from charlstm.playground.server import create_app, hostname

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
    with client_for(create_app(root, hosts=LOOPBACK_HOSTS)) as c:
        assert c.get("/api/runs", headers={"Host": "evil.example:8000"}).status_code == 400
        for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "localhost"):
            assert c.get("/api/runs", headers={"Host": host}).status_code == 200, host
    assert hostname("[::1]:80") == "::1" and hostname("Example.org:1") == "example.org" and hostname("::1") == "::1"
