"""`charlstm serve` as a command: the line naming the extra when starlette/uvicorn are missing, the
address it prints, the warning off loopback, which runs it offers, and clear refusals. The server
itself is tested in tests/playground/test_serve*.py; here `_run` is replaced so nothing is served."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.cli import serve as cmd


def invoke(*args):
    return CliRunner().invoke(app, ["serve", *map(str, args)], catch_exceptions=False)


@pytest.fixture
def served(monkeypatch):
    """What the command would serve: the app and the socket, instead of serving."""
    import starlette  # noqa: F401  (declared test dependencies)
    import uvicorn as _uvicorn  # noqa: F401
    got = {}

    def fake_run(uvicorn, app_, sock):
        got.update(app=app_, address=sock.getsockname())
        sock.close()
    monkeypatch.setattr(cmd, "_run", fake_run)
    return got


def test_without_the_extra_it_says_which_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # importing it now fails as if it were not installed
    r = invoke("--root", tmp_path)
    assert r.exit_code == 1
    assert "charlstm serve needs the optional 'serve' extra: pip install 'charlstm[serve]'" in r.stderr
    assert "Traceback" not in r.output


def test_it_prints_the_address_and_binds_this_machine_only_by_default(served, tmp_path):
    r = invoke("--root", tmp_path, "--port", 0)
    assert r.exit_code == 0, r.output
    host, port = served["address"]
    assert host == "127.0.0.1" and port > 0
    assert r.stdout == f"charlstm playground: http://127.0.0.1:{port}/\n"
    assert "warning" not in r.stderr
    assert served["app"].user_middleware[0].kwargs["hosts"] == ("localhost", "127.0.0.1", "::1")


def test_another_host_is_warned_about(served, tmp_path):
    r = invoke("--root", tmp_path, "--port", 0, "--host", "0.0.0.0")
    assert r.exit_code == 0, r.output
    assert "warning: listening on 0.0.0.0" in r.stderr
    assert served["app"].user_middleware[0].kwargs["hosts"] is None


def test_runs_named_on_the_command_line_and_the_starter_are_offered(served, tmp_path, monkeypatch):
    from charlstm.store import runs
    run = tmp_path / "elsewhere"
    run.mkdir()
    (run / runs.BEST).write_bytes(b"not read until asked for")
    from charlstm.store import starter
    monkeypatch.setattr(starter, "path", lambda: tmp_path / "starter.pt")
    r = invoke(run, "--root", tmp_path / "root", "--port", 0)
    assert r.exit_code == 0, r.output
    catalog = served["app"].state.catalog
    assert catalog.named == {str(run): run} and catalog.extra == {starter.NAME: tmp_path / "starter.pt"}
    assert list(catalog.listing()) == [str(run), starter.NAME]  # the starter after the user's runs


def test_an_unknown_run_is_one_line(tmp_path):
    r = invoke("no-such-run", "--root", tmp_path)
    assert r.exit_code == 1 and "no run 'no-such-run'" in r.stderr


def test_a_port_in_use_is_one_line(served, tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        r = invoke("--root", tmp_path, "--port", held.getsockname()[1])
    assert r.exit_code == 1 and "cannot listen on 127.0.0.1" in r.stderr and "choose another --port" in r.stderr


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
                                           ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.4", False),
                                           ("example.org", False)])
def test_loopback_hosts(host, loopback):
    assert cmd.is_loopback(host) is loopback


def test_the_cli_does_not_load_the_server_or_torch_until_serve_runs():
    code = ("import sys; from charlstm.cli import app; "
            "bad = [m for m in ('torch', 'starlette', 'uvicorn', 'charlstm.playground.server') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
