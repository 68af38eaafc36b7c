"""cot_rel's two encodings: one encoder pass per window of a doc for all its pairs ("per_sentence"), or per pair.

Also what the teacher reads for a pair that carries its own knowledge (relation["cot"]).
"""
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train as spacy_train
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from transformers import AutoTokenizer

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.models.encoder import torch_module
from spacy_cot_distill.models.mention_views import layout_doc
from spacy_cot_distill.models.views import word_pieces
from spacy_cot_distill.pipeline import distill_pipe
from spacy_cot_distill.readers import create_pairs_corpus
from tiny_relations import KNOWLEDGE, TRAIN, given_pairs, make_doc, rel_nlp, train

ROOT = Path(__file__).resolve().parent.parent
ENCODINGS = ["per_sentence", "per_pair"]
ENTITY_PAIRS = {"@misc": "spacy_cot_distill.EntityPairs.v1", "max_distance": 20}


def encoding_nlp(encoder, encoding, **cfg):
    # bucket_rows 0: each view is one encoder call, so that the calls count the passes
    model = {"encoder": str(encoder), "m": 2, "n_heads": 2, "dropout": 0.0, "encoding": encoding, "bucket_rows": 0}
    return rel_nlp(encoder, model=model, **cfg)


def initialized(encoder, encoding, **cfg):
    nlp = encoding_nlp(encoder, encoding, **cfg)
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN]
    nlp.initialize(lambda: [Example(given_pairs(doc), doc) for doc in gold])
    return nlp, gold


class EncoderCalls:
    """Counts the encoder's forward passes and the sequences each one reads."""

    def __init__(self, nlp):
        self.calls = []
        encoder = torch_module(nlp.get_pipe("cot_rel").model).encoder
        self.handle = encoder.register_forward_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs, output):
        ids = kwargs.get("input_ids")
        self.calls.append(int((ids if ids is not None else kwargs["inputs_embeds"]).shape[0]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def four_entities(nlp):
    """A doc with 4 entities, so 12 ordered candidate pairs, one of them labelled."""
    doc = make_doc(nlp, "Obama met Mary in London and Paris", {(0, 1, 2, 3): "/per/per/peer"})
    doc.ents = [Span(doc, i, i + 1, label=label) for i, label in ((0, "PER"), (2, "PER"), (4, "LOC"), (6, "LOC"))]
    return doc


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_encoder_passes_per_window_or_per_pair(tiny_encoder, encoding):
    """k entities, k(k-1) pairs: per_sentence reads the sentence once per view, per_pair once per pair and view."""
    nlp, _ = initialized(tiny_encoder, encoding, max_length=96, candidates=ENTITY_PAIRS, max_none_pairs=0)
    rel = nlp.get_pipe("cot_rel")
    docs = [four_entities(nlp), four_entities(nlp)]
    n_pairs = len(rel.candidates(docs[0]))
    assert n_pairs == 12
    with EncoderCalls(nlp) as counted:
        predicted = [rel(given) for given in map(Doc.copy, docs)]
    expected = [1, 1] if encoding == "per_sentence" else [n_pairs, n_pairs]
    assert counted.calls == expected  # one call per doc (nlp() on each), all its pairs in it
    assert all(len(doc._.relations) <= n_pairs for doc in predicted)
    with EncoderCalls(nlp) as counted:
        rel.update([Example(doc.copy(), doc) for doc in docs])
    # one update of 2 x 12 pairs: the student view, then the teacher view, each one call for both docs
    assert counted.calls == ([2, 2] if encoding == "per_sentence" else [2 * n_pairs, 2 * n_pairs])


def test_training_marks_the_mentions_inference_marks(tiny_encoder):
    """A training step reads a sample of the pairs, in the windows inference builds for all of them."""
    nlp, _ = initialized(tiny_encoder, "per_sentence", max_length=96, candidates=ENTITY_PAIRS, max_none_pairs=1)
    rel = nlp.get_pipe("cot_rel")
    doc = four_entities(nlp)
    example = Example(doc.copy(), doc)
    rows = [pair for pair, _ in rel._training_rows(example)]
    candidates = rel.candidates(example.predicted)
    assert len(rows) == 2 and len(candidates) == 12

    def student_ids(pairs, doc_rows=None):
        views = rel._views([example.predicted] * len(pairs), [doc] * len(pairs), pairs, teacher=False, student=True,
                           doc_rows=None if doc_rows is None else {id(example.predicted): doc_rows})
        return torch_module(rel.model).featurize(views).views[0].input_ids.tolist()

    assert student_ids(rows, rows) == student_ids(candidates, candidates)
    # laid out from the gold pair alone, the window would lack the markers of the other two mentions
    assert student_ids(rows[:1]) != student_ids(rows[:1], rows[:1])


def test_markers_are_typed_where_the_type_is_known(tiny_encoder):
    nlp, _ = initialized(tiny_encoder, "per_sentence", max_length=96)
    rel = nlp.get_pipe("cot_rel")
    module = torch_module(rel.model)
    doc = nlp.make_doc("Obama said Apple is in London")
    doc.ents = [Span(doc, 0, 1, label="PER"), Span(doc, 5, 6, label="LOC")]
    pairs = [((0, 1), (2, 3)), ((0, 1), (5, 6))]  # Apple is no entity of the doc: its markers are untyped
    view = module.featurize(rel._views([doc, doc], [doc, doc], pairs, teacher=False, student=True)).views[0]
    assert view.input_ids.shape[0] == 1  # one window for both pairs
    words = ["<PER>", "Obama", "</PER>", "said", "<E>", "Apple", "</E>", "is", "in", "<LOC>", "London", "</LOC>"]
    expected = [i for pieces in word_pieces(module.tokenizer, words) for i in pieces]
    ids = view.input_ids[0][view.attention_mask[0].bool()].tolist()
    assert ids == [module.tokenizer.cls_token_id, *expected, module.tokenizer.sep_token_id]
    # plain text: the tokenizer has no added tokens, and per_pair's marker tokens are not in it
    assert len(module.tokenizer) == len(AutoTokenizer.from_pretrained(str(tiny_encoder)))
    assert module.tokenizer.convert_tokens_to_ids("[E1]") == module.tokenizer.unk_token_id


def test_markers_nest_and_a_mention_is_marked_once():
    markers = lambda span: ([1000 + span[0]], [2000 + span[0]])  # noqa: E731
    pieces = [[10], [11], [12], [13]]
    pairs = [((0, 2), (1, 2)), ((1, 2), (0, 2)), ((1, 2), (3, 4)), ((3, 4), (3, 4))]
    layout = layout_doc(pieces, pairs, markers, 100)
    assert [w.words for w in layout.windows] == [[[1000], [10], [1001], [11], [2001], [2000], [12], [1003], [13], [2003]]]
    assert layout.rows == {((0, 2), (1, 2)): (0, 0, 2), ((1, 2), (0, 2)): (0, 2, 0), ((1, 2), (3, 4)): (0, 2, 7),
                           ((3, 4), (3, 4)): (0, 7, 7)}


def test_pairs_too_far_apart_share_a_window_of_their_own():
    markers = lambda span: ([1], [2])  # noqa: E731
    pieces = [[100 + i] for i in range(40)]
    near, far = ((0, 1), (2, 3)), ((0, 1), (38, 39))
    layout = layout_doc(pieces, [near, far, far[::-1]], markers, 12)
    assert len(layout.windows) == 2 and layout.rows[far][0] == layout.rows[far[::-1]][0] != layout.rows[near][0]
    for pair, (window, head, tail) in layout.rows.items():
        words = layout.windows[window].words
        assert sum(map(len, words)) <= 12 and words[head] == [1] and words[tail] == [1]
    window, head, tail = layout.rows[far]
    assert layout.windows[window].words[head + 1] == [100] and layout.windows[window].words[tail + 1] == [138]


def long_doc(nlp, n_words):
    """Repeats of a 21-word sentence with two entities, as benchmarks/rel_speed.py reads (about 8 pairs a sentence)."""
    sentence = "Obama met Merkel today , and the two leaders talked for hours about trade and energy in a long meeting .".split()
    doc = Doc(nlp.vocab, words=[sentence[i % len(sentence)] for i in range(n_words)])
    doc.ents = [Span(doc, start + i, start + i + 1, label="PER") for start in range(0, n_words - 2, len(sentence)) for i in (0, 2)]
    return doc


def student_positions(rel, doc):
    """Sub-tokens of the student view of all the doc's candidate pairs, and the number of pairs."""
    pairs = rel.candidates(doc)
    views = rel._views([doc] * len(pairs), [doc] * len(pairs), pairs, teacher=False, student=True,
                       doc_rows={id(doc): pairs})
    view = torch_module(rel.model).featurize(views).views[0]
    return int(view.attention_mask.sum()), len(pairs)


def test_a_long_doc_stays_linear(tiny_encoder):
    """The positions built grow with the text, not with its pairs: a 10x longer doc, 10x the positions."""
    nlp = initialized(tiny_encoder, "per_sentence", max_length=256, candidates=ENTITY_PAIRS)[0]
    rel = nlp.get_pipe("cot_rel")
    short, n_short = student_positions(rel, long_doc(nlp, 210))
    long, n_long = student_positions(rel, long_doc(nlp, 2100))
    assert n_long > 9 * n_short and n_long > 700
    assert long <= 11 * short
    # the marked text (the words, two markers per entity) read at most twice
    module = torch_module(rel.model)
    doc = long_doc(nlp, 2100)
    marked = sum(map(len, word_pieces(module.tokenizer, [t.text for t in doc])))
    marked += len(doc.ents) * (len(module._marker("<PER>")) + len(module._marker("</PER>")))
    assert long <= 2 * marked
    per_pair = initialized(tiny_encoder, "per_pair", max_length=256, candidates=ENTITY_PAIRS)[0].get_pipe("cot_rel")
    assert student_positions(per_pair, doc)[0] > 10 * long


def test_a_pair_reads_the_same_window_in_any_batch(tiny_encoder, monkeypatch):
    """nlp() on a doc whose pairs span several batches predicts what it predicts with all of them in one."""
    nlp, _ = initialized(tiny_encoder, "per_sentence", max_length=256, candidates=ENTITY_PAIRS, output_none=True)
    doc = long_doc(nlp, 420)
    assert len(nlp.get_pipe("cot_rel").candidates(doc)) > 2 * distill_pipe.PREDICT_BATCH
    batched = nlp.get_pipe("cot_rel")(doc.copy())._.relations
    monkeypatch.setattr(distill_pipe, "PREDICT_BATCH", 10_000)
    whole = nlp.get_pipe("cot_rel")(doc.copy())._.relations
    assert [(r["head"], r["tail"], r["label"]) for r in batched] == [(r["head"], r["tail"], r["label"]) for r in whole]
    assert [r["score"] for r in batched] == pytest.approx([r["score"] for r in whole], abs=1e-5)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_both_encodings_learn_the_tiny_corpus(tiny_encoder, encoding):
    """The sanity check: 60 steps on four tweets, every pair right (an untimed run on a tiny random BERT)."""
    nlp = encoding_nlp(tiny_encoder, encoding)
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN]
    losses = train(nlp, [Example(given_pairs(doc), doc) for doc in gold], 60)
    assert losses["cot_rel"] < 0.1
    for doc in gold:
        expected = {(tuple(r["head"]), tuple(r["tail"]), r["label"]) for r in doc._.relations if r["label"] != "None"}
        assert {(tuple(r["head"]), tuple(r["tail"]), r["label"]) for r in nlp(given_pairs(doc))._.relations} == expected


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    nlp = spacy.blank("en")
    path = tmp_path_factory.mktemp("rel_corpus") / "train.spacy"
    DocBin(docs=[make_doc(nlp, text, rels) for text, rels in TRAIN], store_user_data=True).to_disk(path)
    return path


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_spacy_train_with_either_encoding_then_load_and_predict(encoding, corpus, tiny_encoder, tmp_path):
    """configs/cot_rel.cfg with `--components.cot_rel.model.encoding` (as `rel_accuracy.py --set` gives it)."""
    overrides = {
        "paths.train": str(corpus), "paths.dev": str(corpus), "paths.encoder": str(tiny_encoder),
        "training.max_steps": 3, "training.eval_frequency": 3, "components.cot_rel.model.encoding": encoding,
    }
    spacy_train(ROOT / "configs" / "cot_rel.cfg", tmp_path, overrides=overrides)
    nlp = spacy.load(tmp_path / "model-last")
    assert nlp.config["components"]["cot_rel"]["model"]["encoding"] == encoding
    assert torch_module(nlp.get_pipe("cot_rel").model).encoding == encoding
    doc = nlp(given_pairs(make_doc(nlp, *TRAIN[1])))
    assert doc._.relations == [] or {r["label"] for r in doc._.relations} <= set(nlp.get_pipe("cot_rel").labels)


def assert_same_relations(a, b):
    assert [(r["head"], r["tail"], r["label"]) for r in a] == [(r["head"], r["tail"], r["label"]) for r in b]
    assert [r["score"] for r in a] == pytest.approx([r["score"] for r in b])


def test_save_load_round_trip_and_pipelines_saved_before_the_setting(tiny_encoder, tmp_path):
    nlp = encoding_nlp(tiny_encoder, "per_sentence", output_none=True)
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN]
    train(nlp, [Example(given_pairs(doc), doc) for doc in gold], 3)
    nlp.to_disk(tmp_path / "sentence")
    loaded = spacy.load(tmp_path / "sentence")
    assert torch_module(loaded.get_pipe("cot_rel").model).encoding == "per_sentence"
    for doc in gold:
        assert_same_relations(loaded(given_pairs(doc))._.relations, nlp(given_pairs(doc))._.relations)
    # trained per_sentence, read per_pair: the marker tokens per_pair reads are not in its tokenizer
    with pytest.raises(ValueError, match="trained with encoding = \"per_sentence\""):
        spacy.load(tmp_path / "sentence", config={"components": {"cot_rel": {"model": {"encoding": "per_pair"}}}})
    # a pipeline saved before the setting existed: CotRelModel.v1 without `encoding`; it was, and is read, per pair
    old = encoding_nlp(tiny_encoder, "per_pair", output_none=True)
    train(old, [Example(given_pairs(doc), doc) for doc in gold], 3)
    old.to_disk(tmp_path / "old")
    config = tmp_path / "old" / "config.cfg"
    lines = config.read_text().replace("CotRelModel.v2", "CotRelModel.v1").splitlines()
    config.write_text("\n".join(line for line in lines if not line.startswith(("encoding =", "bucket_rows ="))))
    reloaded = spacy.load(tmp_path / "old")
    assert torch_module(reloaded.get_pipe("cot_rel").model).encoding == "per_pair"
    for doc in gold:
        assert_same_relations(reloaded(given_pairs(doc))._.relations, old(given_pairs(doc))._.relations)


PAIR_COT = {"sentence": "mary is a city near paris"}


def with_pair_knowledge(nlp):
    """TRAIN[1] with the doc's knowledge, and knowledge of its own on the pair (Obama, Apple)."""
    doc = make_doc(nlp, *TRAIN[1])
    doc._.relations = [{**r, "cot": dict(PAIR_COT)} if r["head"] == [0, 1] and r["tail"] == [2, 3] else r
                       for r in doc._.relations]
    return doc


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_pair_with_its_own_knowledge_gives_the_teacher_other_input(tiny_encoder, encoding):
    nlp, _ = initialized(tiny_encoder, encoding, max_length=48, teacher_max_length=128)
    rel = nlp.get_pipe("cot_rel")
    module = torch_module(rel.model)
    reference = with_pair_knowledge(nlp)
    predicted = given_pairs(reference)
    pairs = rel._rows(predicted)
    assert pairs == [((0, 1), (2, 3)), ((2, 3), (5, 6)), ((0, 1), (5, 6))]
    assert rel._row_knowledge([predicted] * 3, [reference] * 3, pairs) == [
        [PAIR_COT["sentence"]], [KNOWLEDGE["noun"], KNOWLEDGE["sentence"]], [KNOWLEDGE["noun"], KNOWLEDGE["sentence"]]]
    views = rel._views([predicted] * 3, [reference] * 3, pairs, teacher=True, student=True,
                       doc_rows={id(predicted): pairs})
    student, teacher = module.featurize(views).views
    rows = [teacher.input_ids[r][teacher.attention_mask[r].bool()].tolist() for r in range(teacher.input_ids.shape[0])]
    if encoding == "per_sentence":
        # one window for the three pairs: the teacher reads it once with the pair's knowledge, once with the doc's
        assert student.input_ids.shape[0] == 1 and len(rows) == 2
    else:
        assert student.input_ids.shape[0] == 3 and len(rows) == 3
    own, docs = rows[0], rows[1]
    sep = module.tokenizer.sep_token_id
    assert own[own.index(sep) + 1 : -1] == module.pieces.knowledge([PAIR_COT["sentence"]])
    assert docs[docs.index(sep) + 1 : -1] == module.pieces.knowledge([KNOWLEDGE["noun"], KNOWLEDGE["sentence"]])
    assert own != docs


def test_pair_knowledge_falls_back_to_the_doc_and_reaches_the_evaluation_reader(tiny_encoder, tmp_path):
    nlp, _ = initialized(tiny_encoder, "per_sentence", cot_dims=["noun"])
    rel = nlp.get_pipe("cot_rel")
    reference = with_pair_knowledge(nlp)
    # the pair's knowledge has no `noun` answer: the doc's is read
    assert rel.knowledge(reference, PAIR_COT) == rel.knowledge(reference) == [KNOWLEDGE["noun"]]
    rel.cfg["cot_dims"] = None
    assert rel.knowledge(reference, PAIR_COT) == [PAIR_COT["sentence"]]
    DocBin(docs=[reference], store_user_data=True).to_disk(tmp_path / "dev.spacy")
    (example,) = create_pairs_corpus(tmp_path / "dev.spacy", copy_knowledge=True)(nlp)
    assert [r.get("cot") for r in example.predicted._.relations] == [PAIR_COT, None, None]
    (plain,) = create_pairs_corpus(tmp_path / "dev.spacy")(nlp)
    assert all("cot" not in r for r in plain.predicted._.relations)
    # use_knowledge_at_inference: the pair with knowledge of its own is read by the teacher with it
    rel.cfg["use_knowledge_at_inference"] = True
    rel.cfg["output_none"] = True
    without = example.predicted.copy()
    without._.relations = [{"head": r["head"], "tail": r["tail"]} for r in example.predicted._.relations]

    def scores(doc):
        return {(tuple(r["head"]), tuple(r["tail"])): r["score"] for r in rel(doc)._.relations}

    with_own, plain_scores = scores(example.predicted), scores(without)
    assert with_own[((0, 1), (2, 3))] != pytest.approx(plain_scores[((0, 1), (2, 3))])
    assert with_own[((2, 3), (5, 6))] == pytest.approx(plain_scores[((2, 3), (5, 6))])
