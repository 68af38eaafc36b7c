"""cot_rel: training, serialisation, text-only inference, candidates, the scorer, and cot_ner + cot_rel end to end."""
import random
import shutil

import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.pipeline.rel_scorer import score_relations
from tiny_relations import KNOWLEDGE, TRAIN, given_pairs, make_doc, rel_nlp, train

def relation_set(doc):
    return {(tuple(r["head"]), tuple(r["tail"]), r["label"]) for r in doc._.relations}


@pytest.fixture(scope="module")
def trained(tiny_encoder):
    nlp = rel_nlp(tiny_encoder)
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN]
    examples = [Example(given_pairs(doc), doc) for doc in gold]
    losses = train(nlp, examples, 60)
    return nlp, gold, losses


def assert_same_relations(a, b):
    """Same pairs and labels in the same order, scores equal up to float noise."""
    strip = lambda rels: [{k: v for k, v in r.items() if k != "score"} for r in rels]  # noqa: E731
    assert strip(a) == strip(b)
    assert [r["score"] for r in a] == pytest.approx([r["score"] for r in b])


def test_overfit_save_load_same_predictions(trained, tmp_path):
    nlp, gold, losses = trained
    assert losses["cot_rel"] < 0.1
    for doc in gold:
        predicted = nlp(given_pairs(doc))
        expected = {(tuple(r["head"]), tuple(r["tail"]), r["label"]) for r in doc._.relations if r["label"] != "None"}
        assert relation_set(predicted) == expected
        assert all(0.0 < r["score"] <= 1.0 for r in predicted._.relations)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    for doc in gold:
        a, b = nlp(given_pairs(doc)), loaded(given_pairs(doc))
        assert_same_relations(a._.relations, b._.relations)
    # settings given at load time win over the saved ones
    switched = spacy.load(tmp_path / "pipeline", config={"components": {"cot_rel": {"use_knowledge_at_inference": True}}})
    assert switched.get_pipe("cot_rel").cfg["use_knowledge_at_inference"] is True
    assert switched.get_pipe("cot_rel").labels == nlp.get_pipe("cot_rel").labels
    restored = rel_nlp(tmp_path / "unused", threshold=1.0).from_bytes(nlp.to_bytes())
    assert restored.get_pipe("cot_rel").cfg["threshold"] == 1.0


def test_serialisation_without_the_encoder_directory(tiny_encoder, tmp_path):
    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder, encoder)
    nlp = rel_nlp(encoder)
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN[:2]]
    train(nlp, [Example(given_pairs(doc), doc) for doc in gold], 2)
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(encoder)
    shutil.move(str(tmp_path / "pipeline"), str(tmp_path / "moved"))
    loaded = spacy.load(tmp_path / "moved")
    for doc in gold:
        assert_same_relations(loaded(given_pairs(doc))._.relations, nlp(given_pairs(doc))._.relations)


def test_inference_ignores_knowledge_unless_configured(trained):
    nlp, gold, _ = trained
    rel = nlp.get_pipe("cot_rel")
    for doc in gold:
        plain = given_pairs(doc)
        known = given_pairs(doc)
        known._.cot = {"noun": "mary and john are people", "sentence": "a tweet about a photo"}
        assert nlp(plain)._.relations == nlp(known)._.relations
    rel.cfg["use_knowledge_at_inference"] = True
    rel.cfg["output_none"] = True
    try:
        plain, known = given_pairs(gold[0]), given_pairs(gold[0])
        known._.cot = dict(KNOWLEDGE)
        scores = lambda d: [r["score"] for r in nlp(d)._.relations]  # noqa: E731
        assert scores(plain) != pytest.approx(scores(known))
    finally:
        rel.cfg["use_knowledge_at_inference"] = False
        rel.cfg["output_none"] = False


def test_docs_with_no_pairs_no_entities_or_one_entity(trained, tiny_encoder):
    nlp, _, _ = trained
    assert nlp("")._.relations == []
    assert nlp("john went to london")._.relations == []
    e2e = rel_nlp(tiny_encoder, candidates={"@misc": "spacy_cot_distill.EntityPairs.v1", "max_distance": 5})
    e2e.get_pipe("cot_rel").model = nlp.get_pipe("cot_rel").model
    e2e.get_pipe("cot_rel").cfg = dict(nlp.get_pipe("cot_rel").cfg)
    none = e2e.make_doc("john went to london")
    one = e2e.make_doc("john went to london")
    one.ents = [Span(one, 0, 1, label="ENT")]
    assert e2e(none)._.relations == [] and e2e(one)._.relations == []
    # an empty batch, and a training batch with nothing to learn, are no-ops
    assert list(e2e.pipe([])) == []
    assert e2e.get_pipe("cot_rel").update([Example(e2e.make_doc("john"), e2e.make_doc("john"))]) == {"cot_rel": 0.0}


def test_overlapping_head_and_tail(trained):
    nlp, _, _ = trained
    rel = nlp.get_pipe("cot_rel")
    rel.cfg["output_none"] = True
    try:
        doc = nlp.make_doc("Obama said Apple is in London")
        doc._.relations = [{"head": [0, 2], "tail": [1, 3]}, {"head": [3, 4], "tail": [3, 4]}, {"head": [0, 6], "tail": [3, 4]}]
        out = nlp(doc)._.relations
        assert [(r["head"], r["tail"]) for r in out] == [([0, 2], [1, 3]), ([0, 6], [3, 4]), ([3, 4], [3, 4])]
        assert all(r["label"] in rel.labels for r in out)
    finally:
        rel.cfg["output_none"] = False


def test_bad_pairs_are_reported_with_the_doc(trained):
    nlp, _, _ = trained
    doc = nlp.make_doc("John said")
    doc._.doc_id = "tweet-7"
    doc._.relations = [{"head": [0, 1], "tail": [1, 5]}]
    with pytest.raises(ValueError, match="tweet-7.*outside its 2 tokens"):
        nlp(doc)


def test_threshold_and_output_none(trained):
    nlp, gold, _ = trained
    rel = nlp.get_pipe("cot_rel")
    rel.cfg["output_none"] = True
    try:
        out = nlp(given_pairs(gold[0]))._.relations
        assert len(out) == 2 and {r["label"] for r in out} >= {"None"}
        rel.cfg["threshold"] = 1.0
        assert {r["label"] for r in nlp(given_pairs(gold[0]))._.relations} == {"None"}
    finally:
        rel.cfg["output_none"] = False
        rel.cfg["threshold"] = 0.0
    assert all(r["label"] != "None" for r in nlp(given_pairs(gold[0]))._.relations)


def test_scorer_counts_unproposed_gold_pairs_as_misses():
    nlp = spacy.blank("en")
    reference = make_doc(nlp, "Alice works for Acme in Paris", {
        (0, 1, 3, 4): "/per/org/member_of", (3, 4, 5, 6): "/org/loc/locate_at", (0, 1, 5, 6): "None",
    })
    predicted = nlp.make_doc("Alice works for Acme in Paris")
    # one right, one pair never proposed, one false alarm on a gold None pair
    predicted._.relations = [
        {"head": [0, 1], "tail": [3, 4], "label": "/per/org/member_of", "score": 0.9},
        {"head": [0, 1], "tail": [5, 6], "label": "/per/loc/place_of_residence", "score": 0.8},
    ]
    scores = score_relations([Example(predicted, reference)])
    assert scores["rel_micro_p"] == pytest.approx(0.5)
    assert scores["rel_micro_r"] == pytest.approx(0.5)
    assert scores["rel_micro_f"] == pytest.approx(0.5)
    assert scores["rel_per_label"]["/per/org/member_of"] == {"p": 1.0, "r": 1.0, "f": 1.0}
    assert scores["rel_per_label"]["/org/loc/locate_at"] == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert scores["rel_per_label"]["/per/loc/place_of_residence"]["p"] == 0.0
    assert "None" not in scores["rel_per_label"]
    assert scores["rel_acc"] == pytest.approx(1 / 3)
    empty = score_relations([Example(nlp.make_doc("Alice works for Acme in Paris"), reference)])
    assert empty["rel_micro_r"] == 0.0 and empty["rel_acc"] == pytest.approx(1 / 3)


def test_the_scorer_reads_none_label_from_the_component(tiny_encoder):
    """Pipe.score hands the scorer the component's cfg: its none_label, with no interpolation in the config."""
    nlp = rel_nlp(tiny_encoder, none_label="NA")
    reference = make_doc(nlp, "Alice works for Acme", {(0, 1, 3, 4): "NA"})
    predicted = nlp.make_doc("Alice works for Acme")
    predicted._.relations = [{"head": [0, 1], "tail": [3, 4], "label": "NA", "score": 0.9}]
    scores = nlp.get_pipe("cot_rel").score([Example(predicted, reference)])
    assert scores["rel_per_label"] == {} and scores["rel_acc"] == 1.0
    # the scorer's own none_label is the default for callers that give none
    assert "NA" in nlp.get_pipe("cot_rel").scorer([Example(predicted, reference)])["rel_per_label"]


def test_labels_unseen_at_training(trained):
    nlp, _, _ = trained
    rel = nlp.get_pipe("cot_rel")
    reference = make_doc(nlp, "Mary visit John", {(0, 1, 2, 3): "/per/per/couple"})
    assert "/per/per/couple" not in rel.labels
    before = [p.detach().clone() for p in rel.model.layers[0].shims[0]._model.parameters()]
    # an unseen gold label carries no loss and is scored as a miss
    assert rel.update([Example(given_pairs(reference), reference)]) == {"cot_rel": 0.0}
    after = list(rel.model.layers[0].shims[0]._model.parameters())
    assert all(bool((a == b).all()) for a, b in zip(before, after))
    scores = nlp.evaluate([Example(given_pairs(reference), reference)])
    assert scores["rel_micro_r"] == 0.0
    assert scores["rel_per_label"]["/per/per/couple"]["r"] == 0.0


def test_pairs_corpus_hands_unlabelled_pairs_to_predicted_docs(trained, tmp_path):
    from spacy.tokens import DocBin

    from spacy_cot_distill.readers import create_pairs_corpus

    nlp, gold, _ = trained
    DocBin(docs=gold, store_user_data=True).to_disk(tmp_path / "dev.spacy")
    examples = list(create_pairs_corpus(tmp_path / "dev.spacy")(nlp))
    assert [len(eg.predicted._.relations) for eg in examples] == [len(doc._.relations) for doc in gold]
    assert all("label" not in r for eg in examples for r in eg.predicted._.relations)
    assert all(eg.predicted._.cot == {} for eg in examples)
    scores = nlp.evaluate(examples)
    assert scores["rel_micro_f"] == pytest.approx(1.0) and scores["rel_acc"] == pytest.approx(1.0)


def test_cot_ner_then_cot_rel_on_raw_text(tiny_encoder):
    nlp = spacy.blank("en")
    model = {"encoder": str(tiny_encoder), "m": 2, "n_heads": 2, "dropout": 0.0}
    nlp.add_pipe("cot_ner", config={"model": model, "max_length": 32})
    nlp.add_pipe(
        "cot_rel",
        config={
            "model": model,
            "max_length": 32,
            "candidates": {"@misc": "spacy_cot_distill.EntityPairs.v1", "max_distance": 10},
        },
    )
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN]
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in gold]
    train(nlp, examples, 80, annotates=["cot_ner"])
    doc = nlp("Obama said Apple is in London")
    assert [(e.start, e.end) for e in doc.ents] == [(0, 1), (2, 3), (5, 6)]
    assert {("/per/org/member_of", (0, 1), (2, 3)), ("/org/loc/locate_at", (2, 3), (5, 6))} <= {
        (r["label"], tuple(r["head"]), tuple(r["tail"])) for r in doc._.relations
    }


def test_max_none_pairs_samples_the_unnamed_pairs(tiny_encoder):
    candidates = {"@misc": "spacy_cot_distill.EntityPairs.v1", "max_distance": 20}
    reference = make_doc(rel_nlp(tiny_encoder), "Obama met Merkel and Macron in Paris today", {(0, 1, 2, 3): "/per/per/peer"})
    predicted = Doc(reference.vocab, words=[t.text for t in reference])
    # what an untrained upstream NER might propose: four entities, 12 ordered pairs, one of them gold
    predicted.ents = [Span(predicted, i, i + 1, label="ENT") for i in (0, 2, 4, 6)]
    example = Example(predicted, reference)
    every = rel_nlp(tiny_encoder, max_none_pairs=0, candidates=candidates).get_pipe("cot_rel")._training_rows(example)
    assert every[0] == (((0, 1), (2, 3)), "/per/per/peer") and len(every) == 12
    assert all(label == "None" for _, label in every[1:])
    capped = rel_nlp(tiny_encoder, max_none_pairs=2, candidates=candidates).get_pipe("cot_rel")
    samples = []
    for _ in range(2):
        random.seed(0)  # spaCy's training seeds `random`: the same sample on a re-run
        samples.append(capped._training_rows(example))
    assert samples[0] == samples[1] and samples[0][0] == every[0]
    assert len(samples[0]) == 3 and set(samples[0][1:]) <= set(every[1:])
    drawn = {row for _ in range(30) for row in capped._training_rows(example)[1:]}
    assert len(drawn) > 2  # far pairs are drawn too, not only the nearest
    with pytest.raises(ValueError, match="max_none_pairs"):
        rel_nlp(tiny_encoder, max_none_pairs=-1)
