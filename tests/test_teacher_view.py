"""What the teacher reads: its own length, the knowledge tokenised once, and the options that choose the knowledge."""
from pathlib import Path

import pytest
import spacy
import srsly
import torch
from spacy.training import Example

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.models.encoder import torch_module
from spacy_cot_distill.models import views
from spacy_cot_distill.models.views import PieceCache
from spacy_cot_distill.pipeline.teacher_text import select_sections
from spacy_cot_distill.pipeline.settings import DISTILL_DEFAULTS
from tiny_models import TRAIN, make_tiny_bert

MODEL = {"m": 2, "n_heads": 2}
# unknown words become one sub-token per letter: long knowledge from a short string
LONG = "Named entities: 1. John Smith (person) 2. London (city) Reasoning: the tweet names john and london " * 3
ANSWER = "Named entities: 1. John Smith (person) Reasoning: the tweet is about a visit"


@pytest.fixture(scope="module")
def long_encoder(tmp_path_factory):
    """A tiny BERT with 256 positions, room for a teacher longer than the student."""
    return make_tiny_bert(tmp_path_factory.mktemp("long") / "bert", positions=256)


def make_nlp(encoder: Path, **cfg):
    nlp = spacy.blank("en")
    nlp.add_pipe("cot_ner", config={"model": {"encoder": str(encoder), **MODEL}, "max_length": 16, **cfg})
    return nlp


def train_examples(nlp, cot=None, caption="a photo of a city"):
    result = []
    for text, ents in TRAIN:
        eg = Example.from_dict(nlp.make_doc(text), {"entities": ents})
        eg.reference._.cot = dict(cot if cot is not None else {"chatgpt": LONG})
        eg.reference._.caption = caption
        result.append(eg)
    return result


def teacher_view(nlp, docs):
    """The (student, teacher) ViewBatch the model builds for docs carrying knowledge."""
    ner = nlp.get_pipe("cot_ner")
    inputs = torch_module(ner.model).featurize(ner._views(docs, docs, [None] * len(docs), teacher=True, student=True))
    return inputs.views[0], inputs.views[1]


def row_ids(view, row=0):
    return view.input_ids[row][view.attention_mask[row].bool()].tolist()


def test_teacher_reads_teacher_max_length(long_encoder):
    """The student view stays within max_length; the teacher's rows fill teacher_max_length with knowledge."""
    nlp = make_nlp(long_encoder, teacher_max_length=96)
    egs = train_examples(nlp)
    nlp.initialize(lambda: egs)
    ner = nlp.get_pipe("cot_ner")
    docs = [eg.reference for eg in egs]
    student, teacher = teacher_view(nlp, docs)
    assert student.input_ids.shape[1] <= 16 - MODEL["m"]
    assert teacher.input_ids.shape[1] == 96
    # every row (a whole tweet here) is cut at 96, not at the student's 16: the knowledge is longer than that
    assert all(len(row_ids(teacher, i)) == 96 for i in range(len(docs)))
    known = torch_module(ner.model).pieces.knowledge(ner.knowledge(docs[0]))
    assert len(known) > 96
    sep = torch_module(ner.model).tokenizer.sep_token_id
    ids = row_ids(teacher)
    text_end = ids.index(sep) + 1  # [CLS] text [SEP]
    assert ids[text_end:-1] == known[: 96 - text_end - 1]
    # short knowledge is read whole: the row is as long as text + knowledge, below teacher_max_length
    short = train_examples(nlp, cot={"chatgpt": "a city"}, caption=None)
    _, teacher = teacher_view(nlp, [eg.reference for eg in short])
    ids = row_ids(teacher)
    assert len(ids) < 96 and ids[ids.index(sep) + 1 : -1] == torch_module(ner.model).pieces.knowledge(["a city"])
    # the default of the configs is the measured one, and training runs at it
    assert DISTILL_DEFAULTS["teacher_max_length"] == 256
    optimizer = nlp.resume_training()
    assert nlp.update(egs, sgd=optimizer)["cot_ner"] > 0


def test_teacher_windows_each_read_the_knowledge(long_encoder):
    """A text longer than the student's window: each teacher row is one student window plus the knowledge."""
    nlp = make_nlp(long_encoder, teacher_max_length=64)
    egs = train_examples(nlp)
    nlp.initialize(lambda: egs)
    doc = nlp.make_doc(" ".join(text for text, _ in TRAIN))
    doc._.cot = {"chatgpt": LONG}
    student, teacher = teacher_view(nlp, [doc])
    assert student.input_ids.shape[0] == teacher.input_ids.shape[0] > 1
    for row in range(teacher.input_ids.shape[0]):
        window = row_ids(student, row)
        ids = row_ids(teacher, row)
        assert ids[: len(window)] == window and len(ids) == 64


def test_teacher_length_is_capped_at_the_encoders_positions(tmp_path):
    """The default (256) on a 64-position encoder reads 64 sub-tokens, not an index error."""
    nlp = make_nlp(make_tiny_bert(tmp_path / "bert", positions=64))
    egs = train_examples(nlp)
    nlp.initialize(lambda: egs)
    _, teacher = teacher_view(nlp, [eg.reference for eg in egs])
    assert teacher.input_ids.shape[1] == 64


def test_knowledge_tokenised_once(long_encoder, monkeypatch):
    """Two updates on the same batch: the first tokenises texts and knowledge, the second calls no tokenizer."""
    nlp = make_nlp(long_encoder, teacher_max_length=64)
    egs = train_examples(nlp)
    optimizer = nlp.initialize(lambda: egs)
    tokenizer = torch_module(nlp.get_pipe("cot_ner").model).tokenizer
    calls = []
    encode_texts = views.encode_texts
    monkeypatch.setattr(views, "encode_texts", lambda tok, texts: calls.append(list(texts)) or encode_texts(tok, texts))
    torch_module(nlp.get_pipe("cot_ner").model).pieces = PieceCache(tokenizer)  # what initialize saw is forgotten
    nlp.update(egs, sgd=optimizer)
    first = len(calls)
    nlp.update(egs, sgd=optimizer)
    assert first > 0 and len(calls) == first


def test_piece_cache_is_bounded(long_encoder):
    nlp = make_nlp(long_encoder)
    nlp.initialize(lambda: train_examples(nlp))
    tokenizer = torch_module(nlp.get_pipe("cot_ner").model).tokenizer
    cache = PieceCache(tokenizer, size=2)
    for segment in ("a city", "a photo", "a tweet"):
        cache.knowledge([segment])
    assert list(cache._segments) == ["a photo", "a tweet"]
    first = cache.knowledge(["a city"])[0]
    assert cache.knowledge(["a city", "a city"], 1) == [first, tokenizer.sep_token_id, first]


def test_select_sections():
    assert select_sections(ANSWER, ["Reasoning", "Named entities"]) == (
        "Reasoning: the tweet is about a visit Named entities: 1. John Smith (person)"
    )
    assert select_sections(ANSWER, ["named  entities"]) == "Named entities: 1. John Smith (person)"
    assert select_sections("Named entities:1. A (x)Reasoning:b", ["Reasoning"]) == "Reasoning:b"
    # text before the first heading stays; an answer without the headings is read whole
    assert select_sections("Intro. " + ANSWER, ["Reasoning"]) == "Intro. Reasoning: the tweet is about a visit"
    assert select_sections("no headings here", ["Reasoning"]) == "no headings here"
    assert select_sections("Named entities: A Reasoning: b", ["Summary"]) == "Named entities: A Reasoning: b"
    # a heading of another format, asked for, splits the answer too
    assert select_sections("Summary: s Named entities: A Reasoning: b", ["Reasoning", "Summary"]) == "Reasoning: b Summary: s"


@pytest.mark.parametrize(
    "cfg",
    [
        {"answer_sections": ["Reasoning", "Named entities"]},
        {"answer_sections": ["Named entities"]},
        {"cot_dims": ["sentence", "chatgpt"]},
        {"use_caption": False},
        {"segment_max_length": 4},
    ],
)
def test_knowledge_options_change_the_teacher_input(long_encoder, cfg):
    """Each option gives another teacher input than the defaults, and the student's input stays the same."""
    cot = {"chatgpt": ANSWER, "sentence": "a tweet about london"}
    rows = {}
    for name, options in (("default", {}), ("option", cfg)):
        nlp = make_nlp(long_encoder, teacher_max_length=128, **options)
        egs = train_examples(nlp, cot=cot)
        nlp.initialize(lambda: egs)
        rows[name] = [row_ids(view) for view in teacher_view(nlp, [egs[0].reference])]
        knowledge = nlp.get_pipe("cot_ner").knowledge(egs[0].reference)
    # the last `knowledge` is the option's: caption, then the dimensions
    if "answer_sections" in cfg:
        assert knowledge[1].startswith(cfg["answer_sections"][0]) and len(knowledge) == 3
    if "cot_dims" in cfg:
        assert knowledge[1:] == [cot[dim] for dim in cfg["cot_dims"]]
    assert rows["default"][0] == rows["option"][0]
    assert rows["default"][1] != rows["option"][1]
    if "segment_max_length" in cfg:
        assert len(rows["option"][1]) < len(rows["default"][1])


def test_pipelines_saved_without_the_teacher_settings_load(long_encoder, tmp_path):
    """A pipeline saved before teacher_max_length, answer_sections and segment_max_length loads with the defaults."""
    nlp = make_nlp(long_encoder)
    egs = train_examples(nlp)
    nlp.initialize(lambda: egs)
    nlp.to_disk(tmp_path / "old")
    config = (tmp_path / "old" / "config.cfg").read_text()
    new_keys = ("teacher_max_length", "answer_sections", "segment_max_length")
    old = "\n".join(line for line in config.splitlines() if not line.startswith(new_keys))
    assert old != config
    (tmp_path / "old" / "config.cfg").write_text(old + "\n")
    cfg = srsly.read_json(tmp_path / "old" / "cot_ner" / "cfg")
    srsly.write_json(tmp_path / "old" / "cot_ner" / "cfg", {k: v for k, v in cfg.items() if k not in new_keys})
    loaded = spacy.load(tmp_path / "old")
    ner = loaded.get_pipe("cot_ner")
    assert {key: ner.cfg[key] for key in new_keys} == {key: DISTILL_DEFAULTS[key] for key in new_keys}
    assert [ent.text for ent in loaded(TRAIN[0][0]).ents] == [ent.text for ent in nlp(TRAIN[0][0]).ents]


def test_cot_rel_teacher_reads_teacher_max_length(long_encoder):
    """cot_rel shares the setting: its teacher rows are longer than max_length when the knowledge is."""
    nlp = spacy.blank("en")
    nlp.add_pipe("cot_rel", config={"model": {"encoder": str(long_encoder), **MODEL}, "max_length": 24, "teacher_max_length": 80})
    doc = nlp.make_doc("John Smith went to London")
    doc._.cot = {"chatgpt": LONG}
    doc._.relations = [{"head": [0, 2], "tail": [4, 5], "label": "/per/loc/place_of_residence", "score": 1.0}]
    nlp.initialize(lambda: [Example(nlp.make_doc(doc.text), doc)])
    rel = nlp.get_pipe("cot_rel")
    rows = rel._rows(doc)
    inputs = torch_module(rel.model).featurize(rel._views([doc] * len(rows), [doc] * len(rows), rows, teacher=True, student=True))
    assert inputs.views[0].input_ids.shape[1] <= 24 - MODEL["m"] and inputs.views[1].input_ids.shape[1] == 80


@pytest.mark.parametrize("prompted", [False, True])
def test_length_buckets_encode_the_same(long_encoder, prompted):
    """bucket_rows: rows encoded in length-sorted groups give the hidden states of the whole batch at once."""
    from transformers import AutoModel

    from spacy_cot_distill.models.prompt_generator import PromptedEncoder

    whole = PromptedEncoder(AutoModel.from_pretrained(long_encoder), m=2, n_heads=2).eval()
    bucketed = PromptedEncoder(whole.encoder, m=2, n_heads=2, bucket_rows=2).eval()
    bucketed.generator = whole.generator
    lengths = [9, 3, 17, 5, 12]
    mask = torch.tensor([[1] * n + [0] * (17 - n) for n in lengths])
    ids = torch.randint(5, 40, (5, 17)) * mask
    with torch.no_grad():
        a, b = whole(ids, mask, prompted), bucketed(ids, mask, prompted)
    real = mask.bool()
    assert a.shape == b.shape and torch.allclose(a[real], b[real], atol=1e-5)
