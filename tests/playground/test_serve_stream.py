"""`charlstm serve`'s generation stream through Starlette's TestClient: the streamed text is what
`charlstm sample` prints, a pasted text is learned first, each character comes with what the page shows,
and finished generations are listed. TestClient reads a stream whole, so stopping mid-stream is tested
against a real server in test_serve_live.py."""


import httpx  # noqa: F401  (declared test dependencies: a missing one fails, never skips)
import pytest
import starlette  # noqa: F401
from serve_support import app, cli_sample, client, generate, root, text_of  # noqa: F401  (fixtures)


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
