"""`cot-distill silver --from-teacher`: a trained teacher view, reading each raw doc's knowledge, labels it as
silver (the two-step recipe), and the stock baseline trains on those labels only where its config says so."""
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.cli import app
from spacy_cot_distill.data.docbin import read_docs
from spacy_cot_distill.data.spans import SILVER_KEY, entities_missing, hide_annotation
from spacy_cot_distill.teach import teacher_silver
from spacy_cot_distill.models.encoder import torch_module
from tiny_models import train_nlp, write_train_corpus

ROOT = Path(__file__).resolve().parents[1]


def spy_rows(nlp):
    """A list that records, per forward pass of cot_ner's network, (prompted, rows) of each view: True for the
    student view, False for the teacher's."""
    module = torch_module(nlp.get_pipe("cot_ner").model)
    calls = []
    forward = module.forward

    def spy(inputs):
        calls.append([(view.prompted, view.input_ids.shape[0]) for view in inputs.views])
        return forward(inputs)

    module.forward = spy
    return calls


@pytest.fixture(scope="module")
def joint(tiny_encoder, tmp_path_factory):
    """A jointly distilled cot_ner on disk (tiny_models.train_nlp) and the raw docs it labels: the training tweets
    with their entities hidden and their knowledge kept, but the last, which carries none."""
    folder = tmp_path_factory.mktemp("teacher_silver")
    nlp, _ = train_nlp(tiny_encoder, n_iter=40, model={"encoder": str(tiny_encoder), "m": 2, "n_heads": 2})
    nlp.to_disk(folder / "model")
    raw = read_docs(write_train_corpus(folder / "gold.spacy"), Vocab())
    for doc in raw:
        hide_annotation(doc)
        doc.spans.clear()
    raw[-1]._.cot, raw[-1]._.caption = {}, None
    DocBin(docs=raw, store_user_data=True).to_disk(folder / "raw.spacy")
    return folder


def test_the_teacher_view_labels_each_doc_with_knowledge_as_silver_apart_from_gold(joint, tmp_path):
    nlp = spacy.load(joint / "model")
    pipe = nlp.get_pipe("cot_ner")
    calls = spy_rows(nlp)
    summary = teacher_silver(pipe, joint / "raw.spacy", tmp_path / "silver.spacy")
    # the three docs with knowledge went through the teacher view (not prompted), the one without through the student
    assert sorted(calls) == [[(False, 3)], [(True, 1)]]
    # what was stored is what the pipeline predicts reading the knowledge (use_knowledge_at_inference)
    pipe.cfg["use_knowledge_at_inference"] = True
    silver = read_docs(tmp_path / "silver.spacy", nlp.vocab)
    expected = [[(e.start, e.end, e.label_) for e in pipe(doc.copy()).ents] for doc in read_docs(joint / "raw.spacy", nlp.vocab)]
    assert [[(s.start, s.end, s.label_) for s in doc.spans[SILVER_KEY]] for doc in silver] == expected
    assert sum(map(len, expected)) > 0
    assert summary.docs == 4 and summary.without_knowledge == 1
    assert sum(summary.mentions.values()) == sum(map(len, expected)) and not summary.dropped
    # gold untouched: the docs are still unlabelled (every tag missing), their knowledge kept
    assert all(entities_missing(doc) and not doc.ents for doc in silver)
    assert [doc._.cot for doc in silver[:3]] == [doc._.cot for doc in read_docs(joint / "raw.spacy", nlp.vocab)[:3]]


def test_labels_keep_some_of_the_teachers_labels_and_count_the_rest(joint, tmp_path):
    pipe = spacy.load(joint / "model").get_pipe("cot_ner")
    every = teacher_silver(pipe, joint / "raw.spacy", tmp_path / "all.spacy")
    people = teacher_silver(pipe, joint / "raw.spacy", tmp_path / "per.spacy", ["PER"])
    assert every.mentions["PER"] > 0 and sum(every.mentions.values()) > every.mentions["PER"]
    assert people.mentions == {"PER": every.mentions["PER"]}
    assert sum(people.dropped.values()) == sum(every.mentions.values()) - every.mentions["PER"]
    with pytest.raises(ValueError, match="not DATE"):
        teacher_silver(pipe, joint / "raw.spacy", tmp_path / "x.spacy", ["PER", "DATE"])
    assert not (tmp_path / "x.spacy").exists()


def test_the_command_and_the_stock_baseline_train_on_teacher_silver_only_where_the_config_says_so(joint, tiny_encoder,
                                                                                                  tmp_path):
    # spaCy reads every DocBin of a folder: the gold and the silver docs side by side
    result = CliRunner().invoke(app, ["silver", str(joint / "raw.spacy"), str(tmp_path / "train" / "silver.spacy"),
                                      "--from-teacher", str(joint / "model")])
    assert result.exit_code == 0, result.output
    assert "4 docs labelled by the teacher view" in result.output and "1 docs carry no knowledge" in result.output
    silver = read_docs(tmp_path / "train" / "silver.spacy", Vocab())
    silver_labels = {s.label_ for doc in silver for s in doc.spans[SILVER_KEY]}
    # the gold corpus holds one tweet with PER entities only: the baseline learns the other labels from silver alone
    gold = read_docs(joint / "gold.spacy", Vocab())[:1]
    gold[0].ents = [e for e in gold[0].ents if e.label_ == "PER"]
    DocBin(docs=gold, store_user_data=True).to_disk(tmp_path / "train" / "gold.spacy")
    assert silver_labels - {"PER"}
    learnt = {}
    for as_gold in (False, True):
        overrides = {"paths.train": str(tmp_path / "train"), "paths.dev": str(joint / "gold.spacy"),
                     "paths.encoder": str(tiny_encoder), "corpora.train.silver_as_gold": as_gold,
                     "training.max_steps": 2, "training.eval_frequency": 2}
        train(ROOT / "configs" / "baseline_ner.cfg", tmp_path / str(as_gold), overrides=overrides)
        learnt[as_gold] = set(spacy.load(tmp_path / str(as_gold) / "model-last").get_pipe("ner").labels)
    assert learnt == {False: {"PER"}, True: {"PER"} | silver_labels}


def test_a_pipeline_without_a_trained_teacher_or_without_cot_ner_is_one_line(joint, tmp_path):
    stock = tmp_path / "blank"
    spacy.blank("en").to_disk(stock)
    for model, needle in ((stock, "no cot_ner component"), (joint / "model", "not DATE")):
        args = ["silver", joint / "raw.spacy", tmp_path / "out.spacy", "--from-teacher", model]
        result = CliRunner().invoke(app, [str(a) for a in args + (["--labels", "DATE"] if needle == "not DATE" else [])])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert needle in result.output and str(model) in result.output
        assert not (tmp_path / "out.spacy").exists()
    both = CliRunner().invoke(app, ["silver", str(joint / "raw.spacy"), str(tmp_path / "out.spacy"), "--from-teacher",
                                    str(joint / "model"), "--from-knowledge", "noun"])
    assert both.exit_code == 1 and "give one of" in both.output
