"""The GitHub Actions matrix (.github/workflows/ci.yml) for what this machine cannot run: it is a valid
workflow by the schema check-jsonschema ships, a broken one is caught, and it runs the README's test
command on Windows, macOS and Linux with the oldest and newest supported Python."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def check(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True, timeout=120)


def test_the_workflow_is_valid_and_a_broken_one_is_caught(tmp_path):
    ok = check(WORKFLOW)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    text = WORKFLOW.read_text(encoding="utf-8")
    broken = tmp_path / "ci.yml"
    broken.write_text(text.replace("runs-on:", "run-on:"), encoding="utf-8")  # a misspelt key
    assert check(broken).returncode != 0


def test_the_matrix_covers_the_platforms_and_pythons_and_runs_the_readme_test_command():
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "os: [ubuntu-latest, windows-latest, macos-latest]" in text and 'python: ["3.10", "3.13"]' in text
    assert "python -m pytest -q" in text and 'pip install -e ".[test]"' in text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python -m pytest -q" in readme
