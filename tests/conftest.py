"""Shared test fixtures: a small corpus written for these tests and tiny configurations."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run and every machine (derandomize: the seed comes from
# each test's own code), and no example database replays what an earlier run happened to find, so a
# failure in CI is a failure here too. HYPOTHESIS_PROFILE=explore draws fresh examples on purpose.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Lines written for charlstm's tests; long enough for a few dozen tiny training windows.
VERSE = """The lamp was lit before the rain began,
and every window held a smaller lamp.
A cat slept on the chair beside the door;
the kettle sang, and no one came to hear it.
We counted boats that sailed across the bay:
one red, one white, one grey as winter stone.
"""
TINY_MODEL = dict(cell="lstm", embed=8, hidden=24, layers=2, dropout=0.3)


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    p = tmp_path / "verse.txt"
    p.write_text(VERSE * 12, encoding="utf-8")
    return p


@pytest.fixture
def run_dir(tmp_path, corpus_file, tiny_config):
    """A run folder trained for 6 steps of the tiny model (last.pt and best.pt written)."""
    from charlstm.training.start import train
    d = tmp_path / "run"
    list(train([corpus_file], TINY_MODEL, tiny_config(steps=6), run_dir=d))
    return d


@pytest.fixture
def tiny_config():
    from charlstm.config import TrainConfig

    def make(**kw):
        base = dict(batch_size=4, seq_len=16, lr=1e-2, warmup=0, steps=20, eval_every=10, log_every=1,
                    eval_chars=None, save_every=None, save_every_time=None, sample_every=0, seed=7,
                    precision="fp32", schedule="constant")
        base.update(kw)
        return TrainConfig(**base)
    return make


def run_events(events):
    """Collect events of a training generator into a list."""
    return list(events)


ROOT = Path(__file__).resolve().parent.parent


# --- Tests that only some operating systems can run: each reason matches tests/allowed_skips.txt. ---
# They run on Linux (here and in CI); the GitHub Actions matrix runs the rest on Windows and macOS.
def posix_only(why: str):
    """A test of a POSIX facility (a signal sent to a process, rlimits, symlinks without admin rights)."""
    return pytest.mark.skipif(os.name == "nt", reason=f"POSIX only: {why}")


def linux_only(why: str):
    """A test that reads Linux's /proc."""
    return pytest.mark.skipif(not sys.platform.startswith("linux"), reason=f"Linux only: {why}")
os.environ.setdefault("PYTHONHASHSEED", "0")


# --- Skips are reviewed: a test skipped because of the machine is a test that did not run. ---
# Every skip's reason is matched against tests/allowed_skips.txt; one that matches no line there is
# listed at the end of the run, and with CHARLSTM_STRICT_SKIPS=1 (set by .ci/run) it fails the run.
ALLOWED_SKIPS = Path(__file__).with_name("allowed_skips.txt")
_unreviewed: list[str] = []


def allowed_skip_patterns() -> list[str]:
    lines = ALLOWED_SKIPS.read_text(encoding="utf-8").splitlines() if ALLOWED_SKIPS.exists() else []
    return [line.split("  #", 1)[0].strip() for line in lines if line.strip() and not line.startswith("#")]


def skip_is_allowed(reason: str, patterns: list[str]) -> bool:
    return any(re.search(p, reason) for p in patterns)


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail") and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        if not skip_is_allowed(reason, allowed_skip_patterns()):
            _unreviewed.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _unreviewed:
        terminalreporter.section("skips not in tests/allowed_skips.txt")
        for line in _unreviewed:
            terminalreporter.line(line)


def pytest_sessionfinish(session, exitstatus):
    if _unreviewed and os.environ.get("CHARLSTM_STRICT_SKIPS") == "1" and exitstatus == 0:
        session.exitstatus = 1
