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


def test_evaluate_warns_about_unknown_gold_labels_and_missing_gold_relations(tiny_encoder, tmp_path):
    from spacy.tokens import Span
    from spacy.training import Example

    encoder = tiny_encoder
    nlp = spacy.blank("en")
    nlp.add_pipe("cot_ner", config={"model": {"encoder": str(encoder)}, "max_length": 32})
    nlp.add_pipe("cot_rel", config={"model": {"encoder": str(encoder), "m": 2, "n_heads": 2}, "max_length": 32})

    def gold_doc(text, ents, relations=()):
        doc = nlp.make_doc(text)
        doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
        doc._.relations = [{"head": h, "tail": t, "label": label, "score": 1.0} for h, t, label in relations]
        return doc

    train = [gold_doc("Obama visits Paris", [(0, 1, "PER"), (2, 3, "LOC")], [([0, 1], [2, 3], "visit")])]
    nlp.initialize(lambda: [Example(nlp.make_doc(d.text), d) for d in train])  # labels only: no training needed
    nlp.to_disk(tmp_path / "model")

    def evaluate(docs):
        DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "gold.spacy")
        result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "model"), str(tmp_path / "gold.spacy")])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    shown = evaluate([gold_doc("Messi joins Inter", [(0, 1, "PER"), (2, 3, "ORG")]),
                      gold_doc("Inter wins", [(0, 1, "ORG")])])
    assert "⚠ Gold entity labels the model does not know, scored as misses: ORG (2)." in shown
    assert "⚠ The data has no gold relations: the relation scores of cot_rel mean nothing." in shown
    shown = evaluate([gold_doc("Obama visits Paris", [(0, 1, "PER"), (2, 3, "LOC")],
                               [([0, 1], [2, 3], "visit"), ([2, 3], [0, 1], "hosts")])])
    assert "⚠ Gold relation labels the model does not know, scored as misses: hosts (1)." in shown
    assert "entity labels the model does not know" not in shown and "no gold" not in shown


def test_gold_examples_hand_the_pipeline_the_words_alone_or_with_the_knowledge(tmp_path):
    """The one gold-example builder: the predicted doc has the gold doc's words and spaces, no entities and, unless
    asked for (a teacher view reading the knowledge), none of its user data."""
    import spacy_cot_distill  # noqa: F401  (doc._.cot)
    from spacy_cot_distill.evaluate import gold_examples

    nlp = spacy.blank("en")
    gold = []
    for text, ents in TRAIN:
        doc = nlp.make_doc(text + "  !")  # a double space: a whitespace token
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        doc._.cot = {"noun": "read by the teacher view alone"}
        gold.append(doc)
    DocBin(docs=gold, store_user_data=True).to_disk(tmp_path / "gold.spacy")
    for with_knowledge in (False, True):
        examples = gold_examples(nlp, tmp_path / "gold.spacy", with_knowledge=with_knowledge)
        assert [eg.reference.text for eg in examples] == [doc.text for doc in gold]
        for eg in examples:
            predicted, reference = eg.predicted, eg.reference
            assert predicted is not reference and predicted.text == reference.text
            assert [t.text for t in predicted] == [t.text for t in reference] and not predicted.ents
            assert reference.ents and all(t.ent_iob == 0 for t in predicted)
            assert bool(predicted.user_data) == with_knowledge and predicted.user_data is not reference.user_data
            if with_knowledge:
                assert predicted._.cot == {"noun": "read by the teacher view alone"}
