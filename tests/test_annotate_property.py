"""The property of `annotate` (issue 28): its output equals one uninterrupted single-process run of the same input
for any split into batches, any resume point, any number of processes and on Ray workers (in test_annotate_ray.py),
for an fp32 and an int8 pipeline, on inputs with unusual separators and bytes. "Equals": the same ids, texts,
entities and bad lines, and relation scores within 1e-4 (the documented float noise) for fp32, the same bits for
int8 (its encoder is batch-invariant)."""
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from spacy_cot_distill.annotate import annotate
from spacy_cot_distill.cli import app
from spacy_cot_distill.quantize import is_quantize_output
from test_annotate import read_output
from tiny_relations import WORDS

# separators a text may hold that str.splitlines (and so a line reader built on it) would break at
SEPARATORS = ["\u2028", "\u2029", "\u0085", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\r"]
ODD_LINES = [b"\xff\xfe odd bytes", b"\xc3", b"Obama \xed\xa0\x80 said", b"", b"   \t"]


@st.composite
def inputs(draw):
    """(file suffix, file bytes): texts of the tiny model's words joined by spaces or unusual separators, with
    lines that are not UTF-8 and blank lines among them, as plain text or JSONL."""
    suffix = draw(st.sampled_from([".txt", ".jsonl"]))
    lines = []
    for _ in range(draw(st.integers(1, 24))):
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(ODD_LINES)))
            continue
        words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=14))
        text = words[0]
        for word in words[1:]:
            text += draw(st.sampled_from([" "] * 4 + SEPARATORS)) + word
        if suffix == ".jsonl":
            record = {"text": text} if draw(st.booleans()) else {"id": draw(st.sampled_from(["a", 7, 2.5, None])),
                                                                  "text": text}
            text = json.dumps(record, ensure_ascii=draw(st.booleans()))
        lines.append(text.encode("utf-8"))
    return suffix, b"".join(line + b"\n" for line in lines)


def same_output(got: Path, want: Path, model: Path) -> None:
    """The same records; relation scores within 1e-4 (fp32's float noise), or the same bits for an int8 model."""
    got_lines, want_lines = read_output(got), read_output(want)
    if is_quantize_output(model):
        assert got_lines == want_lines
        return
    strip = [{**r, "relations": [{k: v for k, v in x.items() if k != "score"} for x in r["relations"]]}
             for r in got_lines]
    assert strip == [{**r, "relations": [{k: v for k, v in x.items() if k != "score"} for x in r["relations"]]}
                     for r in want_lines]
    for a, b in zip(got_lines, want_lines):
        for x, y in zip(a["relations"], b["relations"]):
            assert abs(x["score"] - y["score"]) <= 1.0001e-4, (x, y)


@pytest.fixture(scope="module")
def int8_pipeline(pipeline, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "model"
    result = CliRunner().invoke(app, ["quantize", str(pipeline), str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(params=["fp32", "int8"])
def model(request, pipeline, int8_pipeline):
    return pipeline if request.param == "fp32" else int8_pipeline


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=inputs(), batch_size=st.integers(1, 9), resume_at=st.one_of(st.none(), st.integers(0, 30)),
       n_process=st.sampled_from([1, 1, 1, 2]), torn=st.booleans())
def test_any_batches_resume_point_and_processes_equal_one_run(model, data, batch_size, resume_at, n_process, torn):
    suffix, content = data
    with tempfile.TemporaryDirectory() as tmp:
        source, whole, out = Path(tmp) / f"in{suffix}", Path(tmp) / "whole.jsonl", Path(tmp) / "out.jsonl"
        source.write_bytes(content)
        reference = annotate(model, source, whole, progress=False)
        stats = annotate(model, source, out, batch_size=batch_size, n_process=n_process, progress=False)
        same_output(out, whole, model)
        assert [str(e) for e in stats.skipped] == [str(e) for e in reference.skipped]
        if resume_at is not None:  # an interrupted run: its first lines, maybe a torn one, then --resume
            kept = whole.read_bytes().split(b"\n")[:-1][:resume_at]
            out.write_bytes(b"".join(line + b"\n" for line in kept) + (b'{"id": 1, "te' if torn else b""))
            stats = annotate(model, source, out, batch_size=batch_size, n_process=n_process, resume=True,
                             progress=False)
            assert stats.resumed == len(kept) and stats.resumed + stats.written == reference.written
            same_output(out, whole, model)
            assert [str(e) for e in stats.skipped] == [str(e) for e in reference.skipped]
