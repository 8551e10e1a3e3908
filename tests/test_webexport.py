"""The exported web page in headless Chromium, opened from file://: its logits equal torch's for
every cell, and at temperature 0 it writes what `charlstm sample --temp 0` writes. Selenium drives
the system chromium through the system chromedriver and downloads nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from test_onnxexport import checkpoint_dict
from typer.testing import CliRunner

from charlstm import checkpoint
from charlstm.webexport import TEMPLATE, WEIGHTS, export_web, model_script

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
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


def generate_on_page(driver, prime: str, length: int, temp: str = "0", timeout: float = 120) -> str:
    for field, value in (("prime", prime), ("length", str(length)), ("temp", temp), ("seed", "1")):
        driver.execute_script("document.getElementById(arguments[0]).value = arguments[1]", field, value)
    driver.find_element("id", "go").click()
    end = time.monotonic() + timeout
    while driver.execute_script("return document.body.dataset.state") == "running" and time.monotonic() < end:
        time.sleep(0.05)
    assert driver.execute_script("return document.body.dataset.state") == "done"
    return driver.execute_script("return document.getElementById('output').textContent")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
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
