"""The exported web page in headless Chromium, opened from file://: its logits equal torch's for
every cell, at temperature 0 it writes what `charlstm sample --temp 0` writes, and at a temperature
above 0 (with and without top-p) every character it draws is the one its seeded generator's number
picks from torch's probabilities. Selenium drives the system chromium through the system chromedriver
and downloads nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from test_onnxexport import checkpoint_dict
from typer.testing import CliRunner

from charlstm.config import CELLS
from charlstm.export.webpage import TEMPLATE, WEIGHTS, export_web, model_script
from charlstm.store import checkpoint

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)  # an explicit driver: no download
    yield driver
    driver.quit()


def open_page(driver, folder: Path) -> None:
    driver.get((folder / "index.html").resolve().as_uri())
    assert driver.execute_script("return document.body.dataset.state") == "ready"


def generate_on_page(driver, prime: str, length: int, temp: str = "0", timeout: float = 120, seed: str = "1",
                     topp: str = "1") -> str:
    for field, value in (("prime", prime), ("length", str(length)), ("temp", temp), ("seed", seed), ("topp", topp)):
        driver.execute_script("document.getElementById(arguments[0]).value = arguments[1]", field, value)
    driver.find_element("id", "go").click()
    end = time.monotonic() + timeout
    while driver.execute_script("return document.body.dataset.state") == "running" and time.monotonic() < end:
        time.sleep(0.05)
    assert driver.execute_script("return document.body.dataset.state") == "done"
    return driver.execute_script("return document.getElementById('output').textContent")


@pytest.mark.parametrize("cell", CELLS)
def test_page_logits_equal_torch(browser, tmp_path, cell):
    ckpt = checkpoint_dict(cell)
    written = export_web(ckpt, tmp_path / "web")
    assert sorted(written) == sorted([*TEMPLATE, WEIGHTS]) and sorted(p.name for p in (tmp_path / "web").iterdir()) \
        == sorted(written)
    open_page(browser, tmp_path / "web")
    model, tok = checkpoint.build_model(ckpt)
    ids = tok.encode("the cat sat on a frog.\n")
    got = torch.tensor(browser.execute_script("return window.charlstm.logits(arguments[0])", ids))
    with torch.no_grad():
        ref = model(torch.tensor([ids]))[0][0]
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-4)


@pytest.mark.parametrize("prime", ["the ", ""])
def test_page_at_temperature_0_writes_what_charlstm_sample_writes(browser, tmp_path, prime):
    from charlstm.cli import app
    ckpt = checkpoint_dict("lstm")
    checkpoint.save(ckpt, tmp_path / "run" / "best.pt")
    ref = CliRunner().invoke(app, ["sample", str(tmp_path / "run"), "--temp", "0", "--prime", prime, "--length", "150",
                                   "--device", "cpu"])
    assert ref.exit_code == 0, ref.output
    export_web(ckpt, tmp_path / "web")
    open_page(browser, tmp_path / "web")
    assert generate_on_page(browser, prime, 150) + "\n" == ref.stdout
    assert len(set(ref.stdout)) > 3


def test_a_styled_page_has_a_picker_and_writes_in_the_style_picked(browser, tmp_path):
    """Known answer: the page's logits after setStyle equal torch's styled forward with that blend, and at
    temperature 0 the style picked on the page writes what `charlstm sample --style` writes."""
    from charlstm.cli import app
    ckpt = checkpoint_dict("lstm", styles=("plain", "fancy"))
    checkpoint.save(ckpt, tmp_path / "run" / "best.pt")
    export_web(ckpt, tmp_path / "web")
    open_page(browser, tmp_path / "web")
    options = browser.execute_script("return [...document.getElementById('style').options].map(o => o.text)")
    assert options == ["every style alike", "plain", "fancy"]
    model, tok = checkpoint.build_model(ckpt)
    ids = tok.encode("the cat sat.\n")
    got = torch.tensor(browser.execute_script("window.charlstm.setStyle([0.25, 0.75]); "
                                              "return window.charlstm.logits(arguments[0])", ids))
    with torch.no_grad():
        ref = model(torch.tensor([ids]), None, torch.tensor([0.25, 0.75]))[0][0]
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-4)
    texts = {}
    for style in ("plain", "fancy"):
        ref = CliRunner().invoke(app, ["sample", str(tmp_path / "run"), "--temp", "0", "--prime", "the ", "--length",
                                       "120", "--device", "cpu", "--style", style])
        assert ref.exit_code == 0, ref.output
        browser.execute_script("document.getElementById('style').value = arguments[0]", style)
        texts[style] = generate_on_page(browser, "the ", 120)
        assert texts[style] + "\n" == ref.stdout
    assert texts["plain"] != texts["fancy"]  # the style changes the text, so the comparison means something


def mulberry32(seed: int):
    """The page's generator of uniform numbers (rnn.js `uniforms`), in Python: the same seed, the same numbers."""
    a = seed & 0xFFFFFFFF
    while True:
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = ((a ^ (a >> 15)) * (a | 1)) & 0xFFFFFFFF
        t ^= (t + ((t ^ (t >> 7)) * (t | 61))) & 0xFFFFFFFF
        yield ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296


def test_page_generator_is_mulberry32(browser, tmp_path):
    export_web(checkpoint_dict("rnn"), tmp_path / "web")
    open_page(browser, tmp_path / "web")
    for seed in (0, 1, 12345, 2**32 - 1):
        got = browser.execute_script("const r = CharRNN.uniforms(arguments[0]); return Array.from({length: 6}, r)",
                                     seed)
        want = [u for u, _ in zip(mulberry32(seed), range(6))]
        assert got == want, seed
        assert len(set(got)) == 6 and all(0 <= u < 1 for u in got)


def allowed_picks(logits: torch.Tensor, temperature: float, top_p: float, u: float, tol: float = 1e-6) -> set[int]:
    """The ids the page's `pick` may return for `logits` and the uniform number `u`: the one whose
    share of the cumulative probability holds u, and a neighbour when u lies within `tol` of their
    border (the page's float32-weight arithmetic and torch's differ by ~1e-6)."""
    p = torch.softmax(logits.double() / temperature, -1)
    if top_p < 1:
        order = sorted(range(len(p)), key=lambda i: (-p[i].item(), i))
        held, keep = 0.0, []
        for i in order:
            if held >= top_p:
                break
            keep.append(i)
            held += p[i].item()
        mask = torch.zeros_like(p)
        mask[keep] = 1
        p = p * mask / p[keep].sum()
    cum = torch.cumsum(p, 0)
    lo = torch.cat([torch.zeros(1, dtype=p.dtype), cum[:-1]])
    return {i for i in range(len(p)) if p[i] > 0 and lo[i] - tol <= u < cum[i] + tol}


@pytest.mark.parametrize("temp, topp, seed", [("0.8", "1", "7"), ("1.5", "0.9", "2024")])
def test_page_at_temperature_above_0_draws_each_character_from_torchs_probabilities(browser, tmp_path, temp, topp,
                                                                                     seed):
    ckpt = checkpoint_dict("lstm")
    export_web(ckpt, tmp_path / "web")
    open_page(browser, tmp_path / "web")
    prime, n = "the ", 300
    text = generate_on_page(browser, prime, n, temp=temp, seed=seed, topp=topp)
    assert text.startswith(prime) and len(text) == len(prime) + n
    model, tok = checkpoint.build_model(ckpt)
    assert set(text) <= set(tok.chars)
    ids = tok.encode(text)
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0][0]  # logits[k] is the prediction after ids[: k + 1]
    draws = mulberry32(int(seed))
    for k in range(len(prime), len(ids)):
        u = next(draws)
        assert ids[k] in allowed_picks(logits[k - 1], float(temp), float(topp), u), (k, text[: k + 1])
    # the same seed writes the same text; another seed, another text; temperature 0, the greedy text
    assert generate_on_page(browser, prime, n, temp=temp, seed=seed, topp=topp) == text
    assert generate_on_page(browser, prime, n, temp=temp, seed=str(int(seed) + 1), topp=topp) != text
    assert generate_on_page(browser, prime, n, temp="0", seed=seed, topp=topp) != text


def test_page_says_which_prime_characters_it_does_not_know(browser, tmp_path):
    export_web(checkpoint_dict("gru"), tmp_path / "web")
    open_page(browser, tmp_path / "web")
    browser.execute_script("document.getElementById('prime').value = 'Z~'")
    browser.find_element("id", "go").click()
    time.sleep(0.2)
    assert browser.execute_script("return document.body.dataset.state") == "error"
    assert "never saw" in browser.find_element("id", "status").text


def test_model_script_is_ascii_and_cannot_close_a_script_tag():
    ckpt = checkpoint_dict("rnn")
    ckpt["run_name"] = "é</script>"
    text = model_script(ckpt)
    assert text.isascii() and "</" not in text


@pytest.mark.slow
def test_default_cpu_model_samples_at_least_100_chars_per_second(browser, tmp_path):
    """The default CPU model (2 x 512 LSTM, embed 128) at temperature 0.8; bench/export_speed.py --web
    reports the same number."""
    ckpt = checkpoint_dict("lstm", hidden=512, layers=2, scale=1.0)
    from charlstm.config import ModelConfig
    from charlstm.model import CharLSTM
    cfg = ModelConfig(**{**ckpt["model_config"], "embed": 128})
    ckpt |= {"model_config": cfg.to_dict(), "model": CharLSTM(cfg).state_dict()}
    export_web(ckpt, tmp_path / "web")
    open_page(browser, tmp_path / "web")
    generate_on_page(browser, "the ", 1000, temp="0.8")
    rate = browser.execute_script("return window.charlstm.last.rate")
    assert rate >= 100, f"{rate:.0f} chars/s"


@pytest.mark.parametrize("cell", CELLS)
def test_page_step_and_filter_give_the_worked_examples_answers(browser, tmp_path, cell):
    """rnn.js, the one JavaScript step and filter, against tests/fixtures/known_answers.json: the logits
    after each character, and the filtered probabilities of each case it has options for (the page
    offers temperature, top-p and min-p; top-k is the command line's)."""
    from known_answers import load
    from test_known_answers import checkpoint_of
    answers = load()
    export_web(checkpoint_of(cell), tmp_path / "web")
    open_page(browser, tmp_path / "web")
    entry = answers["models"][cell]
    got = browser.execute_script("return window.charlstm.logits(arguments[0])", entry["ids"])
    want = [s["logits"] for s in entry["steps"]]
    torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), torch.tensor(want, dtype=torch.float64), rtol=0,
                               atol=2e-6)
    cases = [c for c in answers["filters"]["cases"] if c["top_k"] is None]
    assert len(cases) >= 4
    for case in cases:
        p = browser.execute_script("return CharRNN.probabilities(arguments[0], arguments[1], arguments[2], "
                                   "arguments[3])", answers["filters"]["logits"], case["temperature"],
                                   case["top_p"] or 1, case["min_p"] or 0)
        want_p = torch.tensor(case["probabilities"], dtype=torch.float64)
        torch.testing.assert_close(torch.tensor(p, dtype=torch.float64), want_p, rtol=0, atol=1e-12)
