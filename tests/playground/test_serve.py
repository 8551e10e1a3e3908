"""`charlstm serve`'s app through Starlette's TestClient: the page and its assets, the runs it offers and
their cards. The generation stream is tested in test_serve_stream.py, bad requests in
test_serve_refusals.py; stopping mid-stream against a real server in test_serve_live.py."""


import httpx  # noqa: F401  (declared test dependencies: a missing one fails, never skips)
import starlette  # noqa: F401
from serve_support import app, client, client_for, root  # noqa: F401  (fixtures)

from charlstm.playground.checks import MAX_LENGTH
from charlstm.playground.server import ASSETS, create_app


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
    with client_for(create_app(tmp_path / "empty-root", {"mine": tmp_path / "elsewhere"})) as c:
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
    with client_for(create_app(root, named, extra=extra)) as c:
        assert [x["id"] for x in c.get("/api/runs").json()["runs"]] == ["run", "child", "big", starter.NAME]
        assert c.get("/api/card", params={"run": starter.NAME}).status_code == 200
    shutil.copytree(root / "big", tmp_path / "elsewhere")
    named, extra = served_runs([tmp_path / "elsewhere", root / "child"], root)
    with client_for(create_app(root, named, extra=extra)) as c:  # named first; child not listed twice
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
    with client_for(create_app(tmp_path / "empty-root", {"slim": out})) as c:
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
