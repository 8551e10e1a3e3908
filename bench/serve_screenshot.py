"""A screenshot of the `charlstm serve` page after a generation (coloured text, the hover card
open), made with headless Chromium through Debian's chromedriver; selenium downloads nothing.

    python bench/serve_screenshot.py checkpoints/serve-demo -o docs/serve.png
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def start_server(run: str, root: str) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "charlstm", "serve", run, "--root", root, "--port", "0", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("charlstm playground: "):
        proc.kill()
        raise SystemExit(f"the server did not start: {line}{proc.stderr.read()}")
    return proc, line.split(": ", 1)[1].strip()


def browser(width: int, height: int) -> webdriver.Chrome:
    os.environ["SE_OFFLINE"] = "true"  # selenium manager: never download a driver or a browser
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}",
                "--hide-scrollbars"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def shoot(d: webdriver.Chrome, url: str, args: argparse.Namespace) -> None:
    wait = WebDriverWait(d, 60)
    find = lambda id_: d.find_element(By.ID, id_)  # noqa: E731
    d.get(url)
    wait.until(lambda _: len(Select(find("run")).options) > 0)
    Select(find("run")).select_by_visible_text(args.run_id)
    wait.until(lambda _: not find("card").get_attribute("hidden") and find("card-facts").text)
    d.execute_script("const t = document.getElementById('temp'); t.value = arguments[0];"
                     "t.dispatchEvent(new Event('input'));", str(args.temp))
    for id_, value in (("prime", args.prime), ("length", str(args.length)), ("seed", str(args.seed)),
                       ("unit", str(args.unit)), ("layer", str(args.layer))):
        find(id_).clear()
        find(id_).send_keys(value)
    find("generate").click()
    wait.until(lambda _: d.execute_script("return document.body.dataset.state") == "idle"
               and find("gen-info").text.startswith("done"))
    if args.mode == "act":
        d.find_element(By.CSS_SELECTOR, "input[name=mode][value=act]").click()
    spans = d.find_elements(By.CSS_SELECTOR, "#out-gen span")
    ActionChains(d).move_to_element(spans[min(args.hover, len(spans) - 1)]).perform()
    wait.until(lambda _: find("tip").is_displayed())
    d.save_screenshot(str(args.output))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run folder, checkpoint file or run name to show")
    ap.add_argument("--root", default="checkpoints")
    ap.add_argument("-o", "--output", type=Path, default=Path("docs/serve.png"))
    ap.add_argument("--prime", default="The ")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--length", type=int, default=700)
    ap.add_argument("--temp", type=float, default=0.8)
    ap.add_argument("--mode", choices=("p", "act"), default="p", help="colour by confidence or by a cell")
    ap.add_argument("--layer", type=int, default=0)
    ap.add_argument("--unit", type=int, default=0)
    ap.add_argument("--hover", type=int, default=120, help="the character whose hover card is shown")
    ap.add_argument("--size", default="1280x900", help="window size, WIDTHxHEIGHT")
    args = ap.parse_args()
    proc, url = start_server(args.run, args.root)
    from charlstm.store import runs
    found = runs.locate(args.run, Path(args.root))
    args.run_id = runs.name_of(found, Path(args.root)) if Path(found).resolve().is_relative_to(
        Path(args.root).resolve()) else args.run
    d = browser(*map(int, args.size.split("x")))
    try:
        shoot(d, url, args)
    finally:
        d.quit()
        proc.terminate()
        proc.wait(30)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
