"""What cot_ner and cot_rel share (DistillationPipe): labels the spaCy way, dropout, loading, the cot_dims alias."""
import shutil
from pathlib import Path

import pytest
import spacy
import srsly
import torch
from spacy.tokens import Doc
from spacy.training import Example

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.data.extensions import register_extensions
from spacy_cot_distill.models.encoder import torch_module
from tiny_models import KNOWLEDGE, TRAIN, examples

MODEL = {"m": 2, "n_heads": 2}


def ner_nlp(encoder: Path, **cfg):
    nlp = spacy.blank("en")
    nlp.add_pipe("cot_ner", config={"model": {"encoder": str(encoder), **MODEL}, "max_length": 32, **cfg})
    return nlp


def rel_nlp(encoder: Path):
    nlp = spacy.blank("en")
    nlp.add_pipe("cot_rel", config={"model": {"encoder": str(encoder), **MODEL}, "max_length": 32})
    return nlp


def test_add_label_before_initialize_is_kept(tiny_encoder):
    """`add_label` then `initialize` without examples: the labels added are the head's (spancat/textcat's way)."""
    nlp = ner_nlp(tiny_encoder)
    ner = nlp.get_pipe("cot_ner")
    assert ner.add_label("PER") == 1 and ner.add_label("PER") == 0
    nlp.initialize()
    assert ner.labels == ("PER",) and ner.model.get_dim("nO") == 3
    assert all(len(doc.ents) <= len(doc) for doc in nlp.pipe([text for text, _ in TRAIN]))
    # initialize adds the examples' labels to those added before
    nlp = ner_nlp(tiny_encoder)
    nlp.get_pipe("cot_ner").add_label("MISC")
    nlp.initialize(lambda: examples(nlp))
    assert nlp.get_pipe("cot_ner").labels == ("LOC", "MISC", "ORG", "PER")
    nlp = rel_nlp(tiny_encoder)
    rel = nlp.get_pipe("cot_rel")
    rel.add_label("/per/loc/place_of_residence")
    nlp.initialize()
    assert rel.labels == ("None", "/per/loc/place_of_residence") and rel.model.get_dim("nO") == 2


@pytest.mark.parametrize("factory", ["cot_ner", "cot_rel"])
def test_no_resize(tiny_encoder, factory):
    """spaCy's test_no_resize: after initialize the head cannot grow, and add_label says so with spaCy's E922."""
    nlp = ner_nlp(tiny_encoder) if factory == "cot_ner" else rel_nlp(tiny_encoder)
    pipe = nlp.get_pipe(factory)
    pipe.add_label("PER")
    pipe.add_label("LOC")
    nlp.initialize()
    n_outputs = pipe.model.get_dim("nO")
    with pytest.raises(ValueError, match="E922"):
        pipe.add_label("ORG")
    assert "ORG" not in pipe.labels and pipe.model.get_dim("nO") == n_outputs
    assert pipe.add_label("PER") == 0  # a label it has is no resize


def test_label_data_initializes_an_equal_component(tiny_encoder):
    """`label_data` is what `spacy init labels` saves; handed back to initialize, it gives the same labels."""
    nlp = ner_nlp(tiny_encoder)
    nlp.get_pipe("cot_ner").add_label("MISC")
    nlp.initialize(lambda: examples(nlp))
    again = ner_nlp(tiny_encoder)
    # the labels given win over the examples' (which lack MISC)
    again.get_pipe("cot_ner").initialize(lambda: examples(again), labels=nlp.get_pipe("cot_ner").label_data)
    assert again.get_pipe("cot_ner").labels == nlp.get_pipe("cot_ner").labels == ("LOC", "MISC", "ORG", "PER")


def losses_under_seeds(nlp, train, drop):
    """The loss of one update (no optimizer step) from the same weights under two torch seeds."""
    result = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        result.append(nlp.get_pipe("cot_ner").update(train, drop=drop)["cot_ner"])
    return result


def test_update_drop_sets_the_dropout_of_the_whole_network(tiny_encoder):
    """`update(drop=...)` is the network's dropout: 0 makes the loss independent of the seed, 0.5 does not."""
    nlp = ner_nlp(tiny_encoder)  # the architecture's dropout is 0.1, the tiny BERT's own 0.1
    train = examples(nlp)
    nlp.initialize(lambda: train)
    no_dropout = losses_under_seeds(nlp, train, drop=0.0)
    assert no_dropout[0] == no_dropout[1]
    half = losses_under_seeds(nlp, train, drop=0.5)
    assert half[0] != half[1] and no_dropout[0] not in half
    module = torch_module(nlp.get_pipe("cot_ner").model)
    rates = {m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)}
    rates |= {m.dropout_prob for m in module.modules() if isinstance(getattr(m, "dropout_prob", None), float)}
    assert rates == {0.5}
    # spaCy's training passes [training] dropout to every component's update
    nlp.update(train, drop=0.25)
    assert {m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)} == {0.25}


def test_whitespace_tokens_are_never_entities(tiny_encoder):
    """As spaCy's ner: a whitespace token gets O at inference, and O as its training target."""
    nlp = ner_nlp(tiny_encoder)
    nlp.initialize(lambda: examples(nlp))
    ner = nlp.get_pipe("cot_ner")
    with torch.no_grad():  # a head that tags everything PER
        torch_module(ner.model).output.bias[ner.tags.index("B-PER")] += 100.0
        torch_module(ner.model).output.bias[ner.tags.index("I-PER")] += 200.0
    words = ["John", "\n\n", "Smith", " ", "went", "home"]
    doc = nlp(Doc(nlp.vocab, words=words, spaces=[True, False, True, False, True, False]))
    assert [token.ent_iob_ for token in doc] == ["B", "O", "B", "O", "B", "I"]
    assert all(not token.is_space for ent in doc.ents for token in ent)
    reference = Doc(nlp.vocab, words=words, spaces=[True, False, True, False, True, False], ents=["B-PER", "I-PER", "I-PER", "O", "O", "O"])
    example = Example(Doc(nlp.vocab, words=words, spaces=[True, False, True, False, True, False]), reference)
    assert ner._targets(example) == [(None, ["B-PER", "O", "I-PER", "O", "O", "O"])]


@pytest.fixture(scope="module")
def saved_ner(tiny_encoder, tmp_path_factory):
    """An initialized (untrained) cot_ner pipeline on disk, its encoder directory gone, and its predictions."""
    encoder = tmp_path_factory.mktemp("enc") / "bert"
    shutil.copytree(tiny_encoder, encoder)
    nlp = ner_nlp(encoder, cot_dims=["noun"])
    nlp.initialize(lambda: examples(nlp))
    path = tmp_path_factory.mktemp("saved") / "pipeline"
    nlp.to_disk(path)
    shutil.rmtree(encoder)
    return path, [[(e.text, e.label_) for e in nlp(text).ents] for text, _ in TRAIN]


def test_missing_cfg_fails_at_load_naming_the_file(saved_ner, tmp_path):
    path, _ = saved_ner
    broken = tmp_path / "broken"
    shutil.copytree(path, broken)
    (broken / "cot_ner" / "cfg").unlink()
    with pytest.raises(ValueError, match=r"cot_ner/cfg is missing.*save the trained pipeline again"):
        spacy.load(broken)


def test_pipelines_saved_with_dims_still_load(saved_ner, tmp_path):
    """`dims` is the old name of `cot_dims`: a pipeline saved with it loads, reads the same knowledge, predicts the same."""
    path, predicted = saved_ner
    old = tmp_path / "old"
    shutil.copytree(path, old)
    config = (old / "config.cfg").read_text()
    assert 'cot_dims = ["noun"]' in config and "\ndims = null\n" in config
    (old / "config.cfg").write_text(config.replace("\ndims = null\n", "\n").replace("cot_dims = ", "dims = "))
    cfg = srsly.read_json(old / "cot_ner" / "cfg")
    cfg["dims"] = cfg.pop("cot_dims")
    srsly.write_json(old / "cot_ner" / "cfg", cfg)
    nlp = spacy.load(old)
    ner = nlp.get_pipe("cot_ner")
    assert ner.cfg["cot_dims"] == ["noun"] and "dims" not in ner.cfg
    assert [[(e.text, e.label_) for e in nlp(text).ents] for text, _ in TRAIN] == predicted
    doc = nlp.make_doc(TRAIN[0][0])
    doc._.cot = dict(KNOWLEDGE)
    assert ner.knowledge(doc) == [KNOWLEDGE["noun"]]
    with pytest.raises(ValueError, match="old name of cot_dims"):
        spacy.load(old, config={"components": {"cot_ner": {"cot_dims": ["sentence"]}}})


def test_components_install_the_extensions_they_use(tiny_encoder):
    """Like spacy-transformers' install_extensions: a component does not rely on the package import for doc._ attributes."""
    names = ("cot", "caption", "relations")
    for name in names:
        Doc.remove_extension(name)
    try:
        ner_nlp(tiny_encoder)
        rel_nlp(tiny_encoder)
        assert all(Doc.has_extension(name) for name in names)
    finally:
        register_extensions()
