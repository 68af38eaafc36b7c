"""`cot-distill evaluate` of cot_rel pipelines, in a real subprocess, against scoring in Python: given pairs and entity pairs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.scorer import Scorer
from spacy.tokens import Doc, DocBin
from spacy.training import Example

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.pipeline.rel_scorer import score_relations
from tiny_relations import TRAIN, given_pairs, make_doc, rel_nlp, train

ROOT = Path(__file__).resolve().parent.parent


def cli_evaluate(model: Path, gold: Path, output: Path) -> subprocess.CompletedProcess:
    """`cot-distill evaluate` as a user runs it: the installed console script, this checkout's package first."""
    script = Path(sys.executable).parent / "cot-distill"
    assert script.exists(), f"the console script is not installed next to {sys.executable}: pip install -e ."
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(script), "evaluate", str(model), str(gold), "--output", str(output)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def words_only(doc: Doc) -> Doc:
    return Doc(doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])


def test_evaluate_cli_gives_the_pairs_to_a_given_pairs_pipeline(tiny_encoder, tmp_path):
    """MNRE's protocol: the CLI hands each doc's pairs to the pipeline, so it scores what nlp() on given pairs scores."""
    nlp = rel_nlp(tiny_encoder)
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN]
    train(nlp, [Example(given_pairs(doc), doc) for doc in gold], 60)
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=gold, store_user_data=True).to_disk(tmp_path / "gold.spacy")

    result = cli_evaluate(tmp_path / "model", tmp_path / "gold.spacy", tmp_path / "scores.json")
    scores = json.loads((tmp_path / "scores.json").read_text())
    expected = score_relations([Example(nlp(given_pairs(doc)), doc) for doc in gold])
    assert expected["rel_micro_f"] == pytest.approx(1.0)  # the tiny model overfits its four docs
    for key in ("rel_micro_p", "rel_micro_r", "rel_micro_f", "rel_acc"):
        assert scores[key] == pytest.approx(expected[key]), key
    assert set(scores["rel_per_label"]) == set(expected["rel_per_label"])
    for label, prf in expected["rel_per_label"].items():
        assert scores["rel_per_label"][label] == pytest.approx(prf), label
    assert "/per/org/member_of" in result.stdout and "rel_micro_f" in result.stdout


def test_evaluate_cli_on_entity_pairs_scores_what_nlp_predicts(tiny_encoder, tmp_path):
    """cot_ner + cot_rel (EntityPairs): the CLI scores relations and entities as nlp() on the words does."""
    nlp = spacy.blank("en")
    model = {"encoder": str(tiny_encoder), "m": 2, "n_heads": 2, "dropout": 0.0}
    nlp.add_pipe("cot_ner", config={"model": model, "max_length": 32})
    candidates = {"@misc": "spacy_cot_distill.EntityPairs.v1", "max_distance": 10}
    nlp.add_pipe("cot_rel", config={"model": model, "max_length": 32, "candidates": candidates})
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN]
    train(nlp, [Example(nlp.make_doc(doc.text), doc) for doc in gold], 80, annotates=["cot_ner"])
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=gold, store_user_data=True).to_disk(tmp_path / "gold.spacy")

    cli_evaluate(tmp_path / "model", tmp_path / "gold.spacy", tmp_path / "scores.json")
    scores = json.loads((tmp_path / "scores.json").read_text())
    examples = [Example(nlp(words_only(doc)), doc) for doc in gold]
    expected = {**score_relations(examples), **Scorer.score_spans(examples, "ents")}
    assert expected["rel_micro_f"] > 0.5 and expected["ents_f"] > 0.5  # something to score, not a trivial 0 = 0
    for key in ("rel_micro_p", "rel_micro_r", "rel_micro_f", "rel_acc", "ents_p", "ents_r", "ents_f"):
        assert scores[key] == pytest.approx(expected[key]), key
