import json

import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_cot_distill.cli import app
from tiny_models import TRAIN, train_nlp


def test_evaluate_prints_per_type_table_and_writes_json(tiny_encoder, tmp_path):
    nlp, _ = train_nlp(tiny_encoder)
    nlp.to_disk(tmp_path / "model")
    gold = []
    for text, ents in TRAIN:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        doc._.cot = {"noun": "ignored at inference"}
        gold.append(doc)
    DocBin(docs=gold, store_user_data=True).to_disk(tmp_path / "gold.spacy")
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "model"), str(tmp_path / "gold.spacy"),
                                      "--output", str(tmp_path / "scores.json")])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "scores.json").read_text())
    expected = spacy.scorer.Scorer.score_spans(
        [spacy.training.Example(nlp(d.text), d) for d in gold], "ents"
    )
    assert scores["ents_f"] == expected["ents_f"] and set(scores["ents_per_type"]) == {"PER", "LOC", "ORG"}
    for label in ("PER", "LOC", "ORG", "ents_f"):
        assert label in result.output
