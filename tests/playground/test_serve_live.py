"""`charlstm serve` as a real uvicorn server on a free port: a closed stream or a stop request ends
the generation on the server, several streams run at once, Ctrl-C ends the server and its
generations, and the page itself in headless Chromium (skipped where /usr/bin/chromium is absent;
selenium is pointed at Debian's chromedriver and never downloads anything)."""

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx  # declared test dependencies: a missing one fails, never skips
import pytest
import starlette  # noqa: F401
import uvicorn
from conftest import posix_only
from serve_support import cli_sample, events, shared_runs, text_of  # noqa: E402

from charlstm.playground.server import create_app  # noqa: E402

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
LONG = 10_000  # characters asked for when a generation is to be stopped early


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return shared_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def server(root):
    """(app, base url) of a real server in a background thread."""
    with serving(root) as got:
        yield got


@contextlib.contextmanager
def serving(root: Path):
    """(app, base url) of a real server on `root`, in a background thread while the block runs."""
    app = create_app(root, device="cpu")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield app, f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(10)
    sock.close()


def finished(url: str, gen_id: str, timeout: float = 15) -> dict:
    """The server's record of a finished generation (waits for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in httpx.get(f"{url}/api/status").json()["finished"]:
            if rec["id"] == gen_id:
                return rec
        time.sleep(0.05)
    raise AssertionError(f"generation {gen_id} did not finish on the server")


def first_chars(chunks) -> str:
    """Read a stream (an iterator of its text) until its first block of characters."""
    seen = ""
    for chunk in chunks:
        seen += chunk
        if "event: chars" in seen:
            return seen
    raise AssertionError(f"the stream ended before any character: {seen!r}")


@pytest.mark.parametrize("how", ["close the stream", "stop request"])
def test_a_stopped_generation_ends_early_on_the_server(server, how):
    _, url = server
    with httpx.Client(base_url=url, timeout=30) as client:
        with client.stream("POST", "/api/generate", json={"run": "big", "length": LONG, "seed": 1}) as r:
            assert r.status_code == 200
            gen_id, chunks = r.headers["x-generation-id"], r.iter_text()
            first_chars(chunks)
            if how == "stop request":
                assert client.post("/api/stop", json={"id": gen_id}).json() == {"stopped": gen_id}
                rest = events("".join(chunks))
                assert rest[-1] == ("end", {"reason": "stopped", "generated": rest[-1][1]["generated"]})
    rec = finished(url, gen_id)
    assert rec["reason"] == "stopped" and 0 < rec["generated"] < LONG


def test_several_generations_stream_at_once(server, root):
    _, url = server
    got: dict[int, str] = {}

    def one(seed: int) -> None:
        r = httpx.post(f"{url}/api/generate", json={"run": "run", "length": 400, "seed": seed}, timeout=60)
        got[seed] = text_of(events(r.text))
    threads = [threading.Thread(target=one, args=(s,)) for s in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for seed in (1, 2, 3):
        assert got[seed] + "\n" == cli_sample(root, "run", seed, 400)


@posix_only("SIGINT sent to a child process")
def test_ctrl_c_stops_the_server_and_ends_its_generations(root):
    proc = subprocess.Popen([sys.executable, "-m", "charlstm", "serve", "--root", str(root), "--port", "0",
                             "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("charlstm playground: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split(": ", 1)[1].strip().rstrip("/")
        with httpx.stream("POST", f"{url}/api/generate", json={"run": "big", "length": LONG}, timeout=30) as r:
            chunks = r.iter_text()
            seen = first_chars(chunks)
            proc.send_signal(signal.SIGINT)
            evs = events(seen + "".join(chunks))
        assert evs[-1][0] == "end" and evs[-1][1]["reason"] == "shutdown" and evs[-1][1]["generated"] < LONG
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture
def browser(monkeypatch):
    if not CHROMIUM.exists():  # not in tests/allowed_skips.txt: .ci/run installs it, so CI fails without it
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium manager: never download a driver or a browser
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_generates_shows_the_sample_text_moves_a_slider_and_stops(server, root, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    _, url = server
    d, wait = browser, WebDriverWait(browser, 30)
    find = lambda id_: d.find_element(By.ID, id_)  # noqa: E731
    js = lambda script: d.execute_script(script)  # noqa: E731
    d.get(url + "/")
    wait.until(lambda _: len(Select(find("run")).options) == 3)
    from charlstm.store import runs
    newest = runs.name_of(runs.locate(None, root), root)  # the run `charlstm sample` would pick
    assert Select(find("run")).first_selected_option.get_attribute("value") == newest
    name = httpx.get(f"{url}/api/card", params={"run": newest}).json()["name"]
    wait.until(lambda _: find("card-name").text == name)  # and its card is the one shown
    Select(find("run")).select_by_value("run")
    wait.until(lambda _: find("card-name").text == "run"
               and js("return document.querySelectorAll('#curves polyline').length") > 0)

    # the temperature slider, moved with the keyboard: 1.00 -> 0.80
    find("temp").send_keys(*[Keys.ARROW_LEFT] * 4)
    assert find("temp").get_attribute("value") == "0.8" and find("temp-value").text == "0.80"

    for id_, value in (("prime", "The"), ("length", "300"), ("seed", "7")):
        find(id_).clear()
        find(id_).send_keys(value)
    find("generate").click()
    wait.until(lambda _: js("return document.body.dataset.state") == "idle"
               and find("gen-info").text.startswith("done"))
    text = js("return document.getElementById('out-gen').textContent")
    assert text + "\n" == cli_sample(root, "run", 7, 300, "--prime", "The", "--temp", "0.8")
    assert js("return document.getElementById('out-prime').textContent") == "The"
    assert js("return [...document.querySelectorAll('#out-gen span')].filter(s => s.style.backgroundColor).length") > 0

    # hovering a character shows its alternatives and the gates
    ActionChains(d).move_to_element(d.find_elements(By.CSS_SELECTOR, "#out-gen span")[10]).perform()
    wait.until(lambda _: find("tip").is_displayed())
    assert "p " in find("tip").text and "forget" in find("tip").text

    # colouring by another cell retraces the shown text on the server
    d.find_element(By.CSS_SELECTOR, "input[name=mode][value=act]").click()
    find("unit").clear()
    find("unit").send_keys("3", Keys.TAB)
    wait.until(lambda _: any(r["reason"] == "inspected" for r in httpx.get(f"{url}/api/status").json()["finished"]))
    ActionChains(d).move_to_element(d.find_elements(By.CSS_SELECTOR, "#out-gen span")[20]).perform()
    wait.until(lambda _: "layer 0, unit 3: tanh(c)" in find("tip").text)
    assert "unit 3" in find("legend").text

    # a pasted text is learned first: the stream is `charlstm sample --adapt` on that text
    pasted = "The boats came home at dusk, and the lamps were lit.\n" * 8
    find("adapt").send_keys(pasted)
    find("generate").click()
    wait.until(lambda _: js("return document.body.dataset.state") == "idle"
               and find("gen-info").text.startswith("done"))
    assert find("status").text.startswith(f"adapted to {len(pasted):,} characters")
    (root.parent / "pasted.txt").write_text(pasted, encoding="utf-8")
    adapted = js("return document.getElementById('out-gen').textContent")
    assert adapted + "\n" == cli_sample(root, "run", 7, 300, "--prime", "The", "--temp", "0.8", "--adapt",
                                        root.parent / "pasted.txt")
    assert adapted != text
    find("adapt").clear()

    # a long generation, stopped from the page: it ends early on the server too
    Select(find("run")).select_by_value("big")
    wait.until(lambda _: "2 × 512" in find("card-facts").text)
    find("length").clear()
    find("length").send_keys(str(LONG))
    big = lambda: [r for r in httpx.get(f"{url}/api/status").json()["finished"] if r["run"] == "big"]  # noqa: E731
    before = len(big())  # earlier tests in this module stopped generations of "big" on this server too
    find("generate").click()
    wait.until(lambda _: js("return document.getElementById('out-gen').textContent.length") >= 32)
    find("stop").click()
    wait.until(lambda _: js("return document.body.dataset.state") == "idle")
    assert find("gen-info").text.startswith("stopped")
    recs, deadline = big(), time.monotonic() + 15
    while len(recs) <= before or recs[-1]["reason"] is None:  # this generation's record, once it is written
        assert time.monotonic() < deadline
        time.sleep(0.05)
        recs = big()
    assert recs[-1]["reason"] == "stopped" and recs[-1]["generated"] < LONG
    assert httpx.get(f"{url}/api/status").json()["running"] == []

    # the inspect box colours any text
    find("inspect-text").send_keys("The lamp")
    find("inspect").click()
    wait.until(lambda _: js("return document.getElementById('inspect-out').textContent") == "The lamp")
    assert json.loads(js("return JSON.stringify(document.body.dataset)"))["state"] == "idle"


def test_the_page_writes_in_the_style_picked_or_typed(browser, tmp_path):
    """A styled run: its card lists the styles, the picker offers them, and what the page generates in a
    picked style, or in a blend typed beside it, is what `charlstm sample --style` prints."""
    from conftest import VERSE
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from charlstm.config import TrainConfig
    from charlstm.training.start import train
    for name, text in (("low", VERSE.lower()), ("up", VERSE.upper())):
        (tmp_path / "corpus" / name).mkdir(parents=True)
        (tmp_path / "corpus" / name / "verse.txt").write_text(text * 12, encoding="utf-8")
    cfg = TrainConfig(batch_size=8, seq_len=32, lr=1e-2, steps=150, eval_every=150, eval_chars=None, sample_every=0,
                      save_every=None, save_every_time=None, precision="fp32", schedule="constant", seed=3)
    list(train([tmp_path / "corpus"], dict(layers=1, hidden=32, embed=16, dropout=0.0), cfg,
               run_dir=tmp_path / "runs" / "mixed", device="cpu", styles="folder"))
    root = tmp_path / "runs"
    d, wait = browser, WebDriverWait(browser, 30)
    find = lambda id_: d.find_element(By.ID, id_)  # noqa: E731
    js = lambda script: d.execute_script(script)  # noqa: E731
    with serving(root) as (_, url):
        d.get(url + "/")
        wait.until(lambda _: find("card-name").text == "mixed" and find("style-row").is_displayed())
        assert "styles" in find("card-facts").text and "low 50%" in find("card-facts").text
        assert [o.text for o in Select(find("style")).options] == ["every style alike", "low", "up"]
        for id_, value in (("length", "200"), ("seed", "3")):
            find(id_).clear()
            find(id_).send_keys(value)
        written = {}
        for picked, typed in (("up", ""), ("low", ""), ("low", "low:0.5,up:0.5")):
            Select(find("style")).select_by_value(picked)
            find("style-blend").clear()
            find("style-blend").send_keys(typed)
            find("generate").click()
            wait.until(lambda _: js("return document.body.dataset.state") == "idle"
                       and find("gen-info").text.startswith("done"))
            written[typed or picked] = js("return document.getElementById('out-gen').textContent")
            assert written[typed or picked] + "\n" == cli_sample(root, "mixed", 3, 200, "--style", typed or picked)
        assert len(set(written.values())) == 3
