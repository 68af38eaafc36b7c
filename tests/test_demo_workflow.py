"""The README's main job: `spacy project run demo`, its real commands, on a short training budget."""
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# made at run time, so that no copied source file holds it
SECRET = f"sk-test-{uuid.uuid4().hex}"


def test_demo_workflow_runs_offline_and_writes_no_secret(tmp_path):
    project = tmp_path / "project"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, project / name)
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", "demo", ".", "--vars.demo_steps", "4",
         "--vars.demo_package", "cot_ci", "--vars.demo_version", "0.0.1"],
        cwd=project, env=env, capture_output=True, text=True,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-5000:]
    # generate ran for real and the shipped cache answered every request
    assert "answered from the cache, 0 by the server, 0 failed" in " ".join(out.split())
    assert "en_cot_ci" in out and "Package written to" in out
    for name in ("cot", "baseline"):
        scores = json.loads((project / f"metrics/demo/{name}.json").read_text())
        assert {"ents_p", "ents_r", "ents_f", "ents_per_type", "rel_micro_f"} <= set(scores), name
    wheel = next(project.glob("packages/en_cot_ci-0.0.1/dist/*.whl"))
    assert wheel.stat().st_size > 10_000_000  # the encoder's weights travel inside the package
    # the key came from the environment only: no file the run wrote holds it (lock, cache, meta, configs, logs)
    leaks = [p for p in project.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not leaks, leaks
    assert (project / "project.lock").is_file()
