"""`annotate --ray` on a real local Ray instance with 2 workers: the same lines as a single-process run."""
import json

from typer.testing import CliRunner

from spacy_cot_distill.annotate import annotate
from spacy_cot_distill.cli import app
from test_annotate import corpus, pipeline  # noqa: F401  (the module's tiny trained pipeline fixture)


def test_ray_two_workers_write_the_single_process_output_line_for_line(pipeline, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local instance
    lines = [json.dumps({"id": f"t{i}", "text": text}) for i, text in enumerate(corpus(60))]
    lines[7] = ""  # blank: skipped and counted
    lines[30] = '{"id": "t30", "text": 3}'  # bad: reported with its line number
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    single = annotate(pipeline, tmp_path / "in.jsonl", tmp_path / "single.jsonl", batch_size=8, progress=False)
    assert single.written == 58 and single.blank == 1 and len(single.skipped) == 1

    result = CliRunner().invoke(app, ["annotate", str(pipeline), str(tmp_path / "in.jsonl"), str(tmp_path / "ray.jsonl"),
                                      "--ray", "--workers", "2", "--batch-size", "8",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Wrote 58 docs" in output and "1 blank lines skipped" in output
    assert "in.jsonl:31: expected a JSON object with a string" in output
    ray_lines = (tmp_path / "ray.jsonl").read_text(encoding="utf-8").splitlines()
    assert ray_lines == (tmp_path / "single.jsonl").read_text(encoding="utf-8").splitlines()
    assert not (tmp_path / "ray.jsonl.part").exists()
