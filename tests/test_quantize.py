"""int8: dynamic quantisation of cot_ner + cot_rel, saved, loaded and used like the fp32 pipeline."""
import spacy
from typer.testing import CliRunner

from spacy_cot_distill.cli import app
from spacy_cot_distill.quantize import is_quantized, quantize_pipeline
from test_annotate import corpus, pipeline  # noqa: F401  (the tiny trained cot_ner + cot_rel pipeline)


def predictions(nlp, texts):
    return [([(e.start_char, e.end_char, e.label_) for e in doc.ents],
             [(tuple(r["head"]), tuple(r["tail"]), r["label"], round(r["score"], 5)) for r in doc._.relations])
            for doc in nlp.pipe(texts)]


def torch_modules(nlp):
    return [shim._model for _, proc in nlp.components for node in proc.model.walk() for shim in node.shims]


def test_int8_pipeline_saves_loads_and_predicts_as_before_saving(pipeline, tmp_path):  # noqa: F811
    texts = corpus(20)
    fp32 = spacy.load(pipeline)
    int8 = spacy.load(pipeline)
    assert quantize_pipeline(int8) == ["cot_ner", "cot_rel"]
    assert all(is_quantized(m) for m in torch_modules(int8)) and not any(is_quantized(m) for m in torch_modules(fp32))
    before = predictions(int8, texts)
    # int8 keeps what the tiny model found on its training tweets
    assert [ents for ents, _ in before[:4]] == [ents for ents, _ in predictions(fp32, texts[:4])]

    result = CliRunner().invoke(app, ["quantize", str(pipeline), str(tmp_path / "int8")])
    assert result.exit_code == 0, result.output
    loaded = spacy.load(tmp_path / "int8")
    assert all(is_quantized(m) for m in torch_modules(loaded))
    assert predictions(loaded, texts) == before
    # and once more through to_disk of the loaded int8 pipeline
    loaded.to_disk(tmp_path / "again")
    assert predictions(spacy.load(tmp_path / "again"), texts) == before


def test_quantize_refuses_a_pipeline_without_a_distilled_model(tmp_path):
    spacy.blank("en").to_disk(tmp_path / "blank")
    result = CliRunner().invoke(app, ["quantize", str(tmp_path / "blank"), str(tmp_path / "out")])
    assert result.exit_code == 1 and "no component of [] has a distilled torch model" in result.output
    assert not (tmp_path / "out").exists()
