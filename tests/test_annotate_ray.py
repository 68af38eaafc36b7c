"""`annotate --ray` on a real local Ray instance: the same lines as a single-process run. Every Ray test is in this
file, so that the suite's workers never start two Ray instances at once."""
import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from typer.testing import CliRunner

from spacy_cot_distill.annotate import annotate
from spacy_cot_distill.cli import app
from test_annotate import ODD, read_output
from test_annotate_property import inputs, int8_pipeline, model, same_output  # noqa: F401 (fixtures)
from tiny_relations import corpus


def without_scores(line):
    return {**line, "relations": [{k: v for k, v in r.items() if k != "score"} for r in line["relations"]]}


def test_ray_two_workers_write_the_single_process_output_line_for_line(pipeline, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local instance
    lines = [json.dumps({"id": f"t{i}", "text": text}) for i, text in enumerate(corpus(60))]
    lines[7] = ""  # blank: skipped and counted
    lines[30] = '{"id": "t30", "text": 3}'  # bad: reported with its line number
    # issue 28: texts holding U+2028, U+0085 and a form feed are one line each, as in a single-process run
    lines[40:43] = [json.dumps({"id": f"t{i}", "text": t}, ensure_ascii=False) for i, t in zip((40, 41, 42), ODD)]
    # and a line that is not UTF-8 is a bad line, not a traceback
    (tmp_path / "in.jsonl").write_bytes(("\n".join(lines) + "\n").encode("utf-8") + b"\xff\xfe bad bytes\n")
    single = annotate(pipeline, tmp_path / "in.jsonl", tmp_path / "single.jsonl", batch_size=8, progress=False)
    assert single.written == 58 and single.blank == 1 and len(single.skipped) == 2

    result = CliRunner().invoke(app, ["annotate", str(pipeline), str(tmp_path / "in.jsonl"), str(tmp_path / "ray.jsonl"),
                                      "--ray", "--workers", "2", "--batch-size", "8",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Wrote 58 docs" in output and "1 blank lines skipped" in output
    assert "in.jsonl:31: expected a JSON object with a string" in output and "2 bad lines skipped" in output
    assert "in.jsonl:61: not valid UTF-8" in output
    ray_lines, single_lines = read_output(tmp_path / "ray.jsonl"), read_output(tmp_path / "single.jsonl")
    # line for line: ids, texts, entities and relations equal; a score may differ in its last (4th) decimal
    # place, as Ray cuts the batches elsewhere and padding moves the floats' last bits
    assert [without_scores(r) for r in ray_lines] == [without_scores(r) for r in single_lines]
    ray_scores, single_scores = ([x["score"] for r in lines for x in r["relations"]] for lines in (ray_lines, single_lines))
    assert ray_scores and all(abs(a - b) <= 1.5e-4 for a, b in zip(ray_scores, single_scores))
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left

    # a plain-text file: the same line numbers as ids, and the same bad lines
    (tmp_path / "in.txt").write_bytes("\n".join(["Obama said Apple is in London", *ODD]).encode("utf-8")
                                      + b"\n\xff bad\nMary went to Paris\n")
    single = annotate(pipeline, tmp_path / "in.txt", tmp_path / "single.txt.jsonl", progress=False)
    result = CliRunner().invoke(app, ["annotate", str(pipeline), str(tmp_path / "in.txt"), str(tmp_path / "ray.txt.jsonl"),
                                      "--ray", "--workers", "2", "--batch-size", "3", "--no-progress"])
    assert result.exit_code == 0 and "in.txt:8: not valid UTF-8" in result.output, result.output
    ray_lines, single_lines = read_output(tmp_path / "ray.txt.jsonl"), read_output(tmp_path / "single.txt.jsonl")
    assert [r["id"] for r in ray_lines] == [1, 2, 3, 4, 5, 6, 7, 9] and single.written == 8
    assert [without_scores(r) for r in ray_lines] == [without_scores(r) for r in single_lines]


def test_ray_refuses_to_write_over_its_input_and_names_a_missing_one(pipeline, tmp_path):  # noqa: F811
    # issue 28: `--ray` wrote OUTPUT over INPUT, and a missing input was a Ray traceback
    source = tmp_path / "in.txt"
    source.write_text("Obama said Apple is in London\n", encoding="utf-8")
    for out in (source, tmp_path / "link.txt"):
        if out != source:
            os.link(source, out)
        result = CliRunner().invoke(app, ["annotate", str(pipeline), str(source), str(out), "--ray", "--no-progress"])
        assert result.exit_code == 1 and "is also an input" in result.output, result.output
    assert source.read_text(encoding="utf-8") == "Obama said Apple is in London\n"
    result = CliRunner().invoke(app, ["annotate", str(pipeline), str(tmp_path / "missing.txt"), str(tmp_path / "o.jsonl"),
                                      "--ray", "--no-progress"])
    assert result.exit_code == 1 and "missing.txt: no such file or folder" in result.output, result.output


# Ray starts in seconds, not milliseconds: few examples, each a whole Ray run
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=inputs(), batch_size=st.integers(1, 9), workers=st.integers(1, 2))
def test_ray_workers_equal_one_run(model, data, batch_size, workers, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local instance
    suffix, content = data
    with tempfile.TemporaryDirectory() as tmp:
        source, whole, out = Path(tmp) / f"in{suffix}", Path(tmp) / "whole.jsonl", Path(tmp) / "ray.jsonl"
        source.write_bytes(content)
        reference = annotate(model, source, whole, progress=False)
        result = CliRunner().invoke(app, ["annotate", str(model), str(source), str(out), "--ray", "--workers",
                                          str(workers), "--batch-size", str(batch_size), "--no-progress"])
        assert result.exit_code == 0, result.output
        same_output(out, whole, model)
        output = " ".join(result.output.split())
        for error in reference.skipped:
            assert f"in{suffix}:{error.line}: " in output
        assert f"Wrote {reference.written} docs" in output
