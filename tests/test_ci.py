"""What .ci/run relies on: the README's two commands, and a real-data suite that refuses to run without its data."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_reads_the_readmes_demo_and_test_commands():
    out = subprocess.run([sys.executable, ROOT / ".ci/readme_commands.py", ROOT / "README.md"],
                         capture_output=True, text=True, check=True).stdout
    demo, tests = out.splitlines()
    assert demo.endswith("&& spacy project run demo") and "pip install" in demo
    assert tests.endswith("&& python -m pytest tests -n 2 --dist loadfile") and "pip install" in tests


def test_the_real_data_suite_fails_without_its_data(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pytest", "tests_data", "--data", str(tmp_path / "missing"), "-q"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 4, run.stdout + run.stderr  # pytest's usage error: nothing is collected, nothing skipped
    assert f"{tmp_path / 'missing'} is not a folder" in run.stderr and "--data DIR" in run.stderr
