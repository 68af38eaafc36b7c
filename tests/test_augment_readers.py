"""The AugmentedCorpus reader, resolved from a training config: train gets the augmented docs, dev does not."""
import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab
from spacy.util import load_config, registry

import spacy_cot_distill  # noqa: F401  (the doc extensions the test docs carry; the reader itself comes by entry point)

CONFIG = """
[paths]
train = null
dev = null
augmented = []

[corpora]

[corpora.train]
@readers = "spacy_cot_distill.AugmentedCorpus.v1"
path = ${paths.train}
augmented = ${paths.augmented}
kinds = ["style", "image"]

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}
gold_preproc = false
"""


def write(path, ids, kind=None):
    vocab = Vocab()
    docs = []
    for doc_id in ids:
        doc = Doc(vocab, words=["Kawhi", "wins", doc_id])
        doc.ents = [Span(doc, 0, 1, label="PER")]
        doc._.doc_id = doc_id
        if kind:
            doc._.augmented_from = {"doc_id": doc_id.split("#")[0], "kind": kind}
        docs.append(doc)
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return str(path)


def ids(corpus, nlp):
    return [eg.reference._.doc_id for eg in corpus(nlp)]


def test_config_adds_augmented_docs_of_chosen_kinds_to_train_only(tmp_path):
    paths = {
        "paths.train": write(tmp_path / "train.spacy", ["a", "b"]),
        "paths.dev": write(tmp_path / "dev.spacy", ["d"]),
        "paths.augmented": [write(tmp_path / "style.spacy", ["a#style0", "b#style0"], "style"),
                            write(tmp_path / "entity.spacy", ["a#entity0"], "entity"),
                            write(tmp_path / "image.spacy", ["b#image0"], "image")],
    }
    config = load_config_from_str(paths)
    corpora = registry.resolve(config["corpora"])
    nlp = spacy.blank("en")
    assert ids(corpora["train"], nlp) == ["a", "b", "a#style0", "b#style0", "b#image0"]
    assert ids(corpora["dev"], nlp) == ["d"]
    examples = list(corpora["train"](nlp))
    assert [e.text for e in examples[2].reference.ents] == ["Kawhi"]


def test_gold_preproc_sentences_of_augmented_docs_are_kept(tmp_path):
    vocab = Vocab()
    doc = Doc(vocab, words=["Kawhi", "wins", ".", "Boston", "cheers"], sent_starts=[True, False, False, True, False])
    doc.ents = [Span(doc, 0, 1, label="PER"), Span(doc, 3, 4, label="LOC")]
    doc._.augmented_from = {"doc_id": "a", "kind": "style"}
    DocBin(docs=[doc], store_user_data=True).to_disk(tmp_path / "style.spacy")
    config = load_config_from_str({"paths.train": write(tmp_path / "train.spacy", ["a"]),
                                   "paths.dev": write(tmp_path / "dev.spacy", ["d"]),
                                   "paths.augmented": [str(tmp_path / "style.spacy")]})
    config["corpora"]["train"]["gold_preproc"] = True
    corpora = registry.resolve(config["corpora"])
    examples = list(corpora["train"](spacy.blank("en")))
    assert [[e.text for e in eg.reference.ents] for eg in examples] == [["Kawhi"], ["Kawhi"], ["Boston"]]


def test_a_docbin_that_augment_did_not_make_is_refused(tmp_path):
    config = load_config_from_str({"paths.train": write(tmp_path / "train.spacy", ["a"]),
                                   "paths.dev": write(tmp_path / "dev.spacy", ["d"]),
                                   "paths.augmented": [write(tmp_path / "dev2.spacy", ["x"])]})
    corpora = registry.resolve(config["corpora"])
    with pytest.raises(ValueError, match="did not make"):
        ids(corpora["train"], spacy.blank("en"))


def test_a_folder_of_augmented_docbins_empty_or_not_and_a_missing_path(tmp_path):
    folder = tmp_path / "augmented"
    folder.mkdir()
    overrides = {"paths.train": write(tmp_path / "train.spacy", ["a"]), "paths.dev": write(tmp_path / "dev.spacy", ["d"]),
                 "paths.augmented": str(folder)}
    nlp = spacy.blank("en")
    assert ids(registry.resolve(load_config_from_str(overrides)["corpora"])["train"], nlp) == ["a"]
    write(folder / "train_aug.spacy", ["a#style0", "a#entity0"], "style")
    assert ids(registry.resolve(load_config_from_str(overrides)["corpora"])["train"], nlp) == ["a", "a#style0", "a#entity0"]
    with pytest.raises(ValueError, match="not found: .*nowhere"):
        registry.resolve(load_config_from_str({**overrides, "paths.augmented": str(tmp_path / "nowhere")})["corpora"])


def load_config_from_str(overrides):
    path = overrides["paths.train"].rsplit("/", 1)[0] + "/train.cfg"
    with open(path, "w", encoding="utf8") as f:
        f.write(CONFIG)
    return load_config(path, overrides=overrides, interpolate=True)
