"""`AugmentedCorpus.v2`: unlabelled docs mixed into the gold by share of words, deterministic, their tags missing;
silver entities train as gold only where the config says so and are never scored."""
import random
import warnings
from collections import Counter
from itertools import islice

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.util import load_config, minibatch, registry
from spacy.vocab import Vocab

import spacy_cot_distill  # noqa: F401  (the doc extensions the test docs carry; the reader comes by entry point)
from spacy_cot_distill.data.spans import SILVER_KEY, entities_missing
from spacy_cot_distill.evaluate import evaluate

CONFIG = """
[paths]
train = null
unlabelled = null

[system]
seed = 0

[corpora]

[corpora.train]
@readers = "spacy_cot_distill.AugmentedCorpus.v2"
path = ${paths.train}
unlabelled = ${paths.unlabelled}
unlabelled_share = 0.5
silver_as_gold = false
seed = ${system.seed}
"""
WORDS = ["Kawhi", "wins", "in", "Boston", "tonight", "with", "the", "Raptors", "again", "!"]


def write(path, prefix, n, gold, silver=False):
    """n docs of 2 to 10 words; gold: "Kawhi" is PER (doc.ents, other tokens O), else every tag missing."""
    rng = random.Random(prefix)
    vocab = Vocab()
    docs = []
    for i in range(n):
        doc = Doc(vocab, words=WORDS[: rng.randint(2, len(WORDS))])
        if gold:
            doc.ents = [Span(doc, 0, 1, label="PER")]
        if silver:
            doc.spans[SILVER_KEY] = [Span(doc, 1, 2, label="ORG")]
        doc._.doc_id = f"{prefix}{i}"
        doc._.cot = {"noun": f"about {prefix}{i}"}
        docs.append(doc)
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return str(path)


def reader(tmp_path, n_gold=40, n_unlabelled=100, **settings):
    tmp_path.mkdir(exist_ok=True)
    overrides = {"paths.train": write(tmp_path / "gold.spacy", "g", n_gold, gold=True),
                 "paths.unlabelled": write(tmp_path / "raw.spacy", "u", n_unlabelled, gold=False)}
    overrides.update({f"corpora.train.{key}": value for key, value in settings.items()})
    (tmp_path / "train.cfg").write_text(CONFIG, encoding="utf8")
    config = load_config(tmp_path / "train.cfg", overrides=overrides, interpolate=True)
    return registry.resolve(config["corpora"])["train"]


def blank():
    """A pipeline trained as with unlabelled docs it should be: spaCy reading the train corpus every epoch."""
    nlp = spacy.blank("en")
    nlp.config["training"]["max_epochs"] = -1
    return nlp


def unlabelled_share(examples):
    words = Counter("u" if eg.reference._.doc_id.startswith("u") else "g" for eg in examples for _ in range(len(eg)))
    return words["u"] / (words["u"] + words["g"])


@pytest.mark.parametrize("share", [0.25, 0.5, 0.8])
def test_an_epoch_holds_the_share_of_unlabelled_words_in_every_batch(tmp_path, share):
    read = reader(tmp_path, unlabelled_share=share)
    nlp = blank()
    epoch = list(read(nlp))
    assert {eg.reference._.doc_id for eg in epoch if eg.reference._.doc_id.startswith("g")} == {f"g{i}" for i in range(40)}
    # one unlabelled doc at most (10 words) past the target, over about 240 gold words
    assert share <= unlabelled_share(epoch) <= share + 0.03
    # the mix is even through the epoch: each batch of ~100 words spaCy's batcher makes holds about the share
    batches = list(minibatch(epoch, size=12))
    assert all(abs(unlabelled_share(batch) - share) < 0.2 for batch in batches[:-1])


def test_the_unlabelled_docs_come_out_with_their_tags_missing_never_o(tmp_path):
    nlp = blank()
    for eg in reader(tmp_path)(nlp):
        if eg.reference._.doc_id.startswith("u"):
            assert [t.ent_iob for t in eg.reference] == [0] * len(eg.reference) and not eg.reference.ents
            assert set(eg.get_aligned_ner()) == {None}  # what cot_ner's loss reads: no tag, no cross-entropy
            assert eg.reference._.relations_annotated is False
            assert eg.reference._.cot == {"noun": f"about {eg.reference._.doc_id}"}  # the teacher's knowledge
        else:
            assert eg.get_aligned_ner()[0] == "U-PER" and set(eg.get_aligned_ner()[1:]) <= {"O"}


def test_the_mix_is_deterministic_and_reads_on_through_the_unlabelled_docs(tmp_path):
    nlp = blank()

    def epochs(read, n=4):
        return [[eg.reference._.doc_id for eg in read(nlp)] for _ in range(n)]

    first = epochs(reader(tmp_path / "a", n_unlabelled=30))
    assert first == epochs(reader(tmp_path / "b", n_unlabelled=30))  # the same seed, the same epochs
    assert first != epochs(reader(tmp_path / "c", n_unlabelled=30, seed=1))
    assert first[0] != first[1]  # the gold is shuffled anew each epoch
    unlabelled = [doc_id for epoch in first for doc_id in epoch if doc_id.startswith("u")]
    assert len(unlabelled) > 60
    # each pass over the 30 unlabelled docs holds every one once, in an order of its own, then the next pass begins
    passes = [unlabelled[i : i + 30] for i in range(0, 60, 30)]
    assert all(sorted(p) == sorted(f"u{i}" for i in range(30)) for p in passes) and passes[0] != passes[1]


def test_spacy_reads_a_train_corpus_once_unless_max_epochs_is_minus_one(tmp_path):
    nlp = spacy.blank("en")
    with pytest.warns(UserWarning, match="max_epochs 0 or more .* set it to -1"):
        list(reader(tmp_path / "a")(nlp))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(reader(tmp_path / "b")(blank()))


def test_without_unlabelled_docs_or_with_share_0_the_reader_is_v1(tmp_path):
    nlp = blank()
    v1 = registry.readers.get("spacy_cot_distill.AugmentedCorpus.v1")(write(tmp_path / "gold.spacy", "g", 40, gold=True))
    expected = [eg.reference._.doc_id for eg in v1(nlp)]
    assert [eg.reference._.doc_id for eg in reader(tmp_path / "a", unlabelled_share=0)(nlp)] == expected
    mixed = reader(tmp_path / "b")
    assert expected != [eg.reference._.doc_id for eg in mixed(nlp)]  # (where it mixes, the epoch does change)
    v2 = registry.readers.get("spacy_cot_distill.AugmentedCorpus.v2")(tmp_path / "gold.spacy")
    assert [eg.reference._.doc_id for eg in v2(nlp)] == expected


@pytest.mark.parametrize("share", [1.0, -0.1, 1.5])
def test_a_share_outside_0_to_1_is_refused(tmp_path, share):
    with pytest.raises(Exception, match=r"unlabelled_share must be at least 0 and below 1, not"):
        reader(tmp_path, unlabelled_share=share)


def test_a_gold_doc_in_the_unlabelled_corpus_is_refused(tmp_path):
    read = reader(tmp_path)
    write(tmp_path / "raw.spacy", "x", 3, gold=True)  # what a user gets by pointing paths.unlabelled at gold docs
    with pytest.raises(ValueError) as err:
        list(read(blank()))
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "raw.spacy") in message and "'x0' has gold entity tags" in message


def test_an_all_o_doc_is_gold_but_whitespace_o_is_not():
    doc = Doc(Vocab(), words=["Kawhi", "\n", "wins"])
    assert entities_missing(doc)
    doc.set_ents([], outside=[doc[1:2]], default="missing")  # whitespace is O by spaCy's rule: still unlabelled
    assert [t.ent_iob_ for t in doc] == ["", "O", ""] and entities_missing(doc)
    doc.set_ents([], outside=[doc[0:1]], default="missing")  # one word annotated as no entity: gold
    assert not entities_missing(doc)
    doc.ents = []
    assert not entities_missing(doc)


@pytest.mark.parametrize("silver_as_gold", [True, False])
def test_silver_entities_train_as_gold_only_where_the_config_says_so(tmp_path, silver_as_gold):
    nlp = blank()
    overrides = {"paths.train": write(tmp_path / "gold.spacy", "g", 4, gold=True, silver=True),
                 "paths.unlabelled": write(tmp_path / "silver.spacy", "u", 4, gold=False, silver=True),
                 "corpora.train.silver_as_gold": silver_as_gold}
    (tmp_path / "train.cfg").write_text(CONFIG, encoding="utf8")
    read = registry.resolve(load_config(tmp_path / "train.cfg", overrides=overrides, interpolate=True)["corpora"])["train"]
    examples = list(read(nlp))
    silver = [eg for eg in examples if eg.reference._.doc_id.startswith("u")]
    assert silver
    for eg in silver:
        if silver_as_gold:  # the silver spans are the entities, every other token O
            assert [(e.start, e.end, e.label_) for e in eg.reference.ents] == [(1, 2, "ORG")]
            assert eg.get_aligned_ner() == ["O", "U-ORG"] + ["O"] * (len(eg) - 2)
        else:
            assert set(eg.get_aligned_ner()) == {None}
    for eg in examples:
        if eg.reference._.doc_id.startswith("g"):  # gold beats silver
            assert [(e.start, e.end, e.label_) for e in eg.reference.ents] == [(0, 1, "PER")]


def test_silver_is_never_scored_as_gold(tmp_path):
    """evaluate reads doc.ents: a pipeline that finds exactly the silver spans scores 0 on gold that differs, and a
    doc with silver but no gold is not scored at all."""
    vocab = Vocab()
    gold = Doc(vocab, words=["Kawhi", "wins", "in", "Boston"])
    gold.ents = [Span(gold, 3, 4, label="LOC")]
    gold.spans[SILVER_KEY] = [Span(gold, 0, 1, label="PER")]
    raw = Doc(vocab, words=["Kawhi", "wins"])
    raw.spans[SILVER_KEY] = [Span(raw, 0, 1, label="PER")]
    DocBin(docs=[gold, raw], store_user_data=True).to_disk(tmp_path / "dev.spacy")
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PER", "pattern": "Kawhi"}])
    scores = evaluate(nlp, tmp_path / "dev.spacy")
    assert (scores["ents_p"], scores["ents_r"]) == (0.0, 0.0) and set(scores["ents_per_type"]) == {"PER", "LOC"}
    # the gold doc alone: one false positive (PER) and one miss (LOC), so the unlabelled doc's PER was not counted
    assert nlp.evaluate([Example(nlp.make_doc("Kawhi wins in Boston"), gold)])["ents_per_type"] == scores["ents_per_type"]


def test_examples_of_a_small_unlabelled_corpus_are_copies(tmp_path):
    nlp = blank()
    examples = list(islice(reader(tmp_path, n_unlabelled=2)(nlp), 200))
    unlabelled = [eg for eg in examples if eg.reference._.doc_id.startswith("u")]
    assert len(unlabelled) > 2 and len({id(eg.predicted) for eg in unlabelled}) == len(unlabelled)


def test_pairs_corpus_keeps_an_unlabelled_doc_unlabelled(tmp_path):
    """ents_from_spans (configs/cot_ner_rel.cfg) sets doc.ents from the span group, and a doc without one (an
    unlabelled doc) keeps its tags missing rather than becoming all O."""
    vocab = Vocab()
    gold = Doc(vocab, words=["Kawhi", "wins"])
    gold.spans["entities"] = [Span(gold, 0, 1, label="PER")]
    raw = Doc(vocab, words=["Kawhi", "wins"])
    DocBin(docs=[gold, raw], store_user_data=True).to_disk(tmp_path / "rel.spacy")
    read = registry.readers.get("spacy_cot_distill.PairsCorpus.v1")(tmp_path / "rel.spacy", ents_from_spans="entities")
    examples = list(read(spacy.blank("en")))
    assert examples[0].get_aligned_ner() == ["U-PER", "O"]
    assert [t.ent_iob for t in examples[1].reference] == [0, 0]
