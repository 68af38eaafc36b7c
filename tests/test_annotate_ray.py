"""`annotate --ray` on a real local Ray instance with 2 workers: the same lines as a single-process run."""
import json

from typer.testing import CliRunner

from spacy_cot_distill.annotate import annotate
from spacy_cot_distill.cli import app
from tiny_relations import corpus


def without_scores(line):
    return {**line, "relations": [{k: v for k, v in r.items() if k != "score"} for r in line["relations"]]}


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
    ray_lines = [json.loads(line) for line in (tmp_path / "ray.jsonl").read_text(encoding="utf-8").splitlines()]
    single_lines = [json.loads(line) for line in (tmp_path / "single.jsonl").read_text(encoding="utf-8").splitlines()]
    # line for line: ids, texts, entities and relations equal; a score may differ in its last (4th) decimal
    # place, as Ray cuts the batches elsewhere and padding moves the floats' last bits
    assert [without_scores(r) for r in ray_lines] == [without_scores(r) for r in single_lines]
    ray_scores, single_scores = ([x["score"] for r in lines for x in r["relations"]] for lines in (ray_lines, single_lines))
    assert ray_scores and all(abs(a - b) <= 1.5e-4 for a, b in zip(ray_scores, single_scores))
    assert not (tmp_path / "ray.jsonl.part").exists()
