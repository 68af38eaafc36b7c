"""The student's inference path: inference mode, text only, sub-tokens of a batch from one tokenizer call."""
import torch
from transformers import AutoTokenizer

from spacy_cot_distill.models import views
from spacy_cot_distill.models.encoder import torch_module
from tiny_models import TRAIN, train_nlp


def test_predict_runs_in_inference_mode_and_leaves_training_mode_alone(tiny_encoder):
    nlp, _ = train_nlp(tiny_encoder, n_iter=2)
    ner = nlp.get_pipe("cot_ner")
    module = torch_module(ner.model)
    module.train()
    docs = [nlp.make_doc(text) for text, _ in TRAIN]
    logits = ner.model.predict(ner._views(docs, docs, [None] * len(docs), teacher=False, student=True))
    assert len(logits) == 1  # the student view alone
    assert torch.is_inference(logits[0]) and not logits[0].requires_grad
    assert module.training  # the mode training had is back for the next update
    module.eval()
    ner.model.predict(ner._views(docs, docs, [None] * len(docs), teacher=False, student=True))
    assert not module.training


def test_inference_builds_no_teacher_view(tiny_encoder, monkeypatch):
    """nlp() on docs that carry knowledge reads neither the knowledge nor the teacher's tokens."""
    nlp, _ = train_nlp(tiny_encoder, n_iter=2)
    docs = [nlp.make_doc(text) for text, _ in TRAIN]
    for doc in docs:
        doc._.cot = {"noun": "knowledge that costs time"}
        doc._.caption = "a caption"
    knowledge_calls = []
    monkeypatch.setattr(views.PieceCache, "knowledge", lambda self, *a: knowledge_calls.append(a))
    ner = nlp.get_pipe("cot_ner")
    monkeypatch.setattr(type(ner), "knowledge", lambda self, doc: knowledge_calls.append(doc))
    assert all(doc.has_annotation("ENT_IOB") for doc in nlp.pipe(docs))
    assert knowledge_calls == []


def test_texts_are_tokenized_together_and_as_each_alone(tiny_encoder, monkeypatch):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_encoder))
    texts = [text.split() for text, _ in TRAIN] + [[], ["\x00", "new"]]
    calls = []
    word_pieces = views.word_pieces
    monkeypatch.setattr(views, "word_pieces", lambda tok, words: calls.append(list(words)) or word_pieces(tok, words))
    cache = views.PieceCache(tokenizer, size=3)  # fewer entries than texts: the batch is still whole
    together = cache.texts(texts)
    assert len(calls) == 1
    assert together == [word_pieces(tokenizer, words) for words in texts]
    assert together[-1][0] == [tokenizer.unk_token_id]  # a word the tokenizer drops entirely
    assert cache.texts(texts[-3:]) == together[-3:] and len(calls) == 1  # the last three were kept


def test_the_fast_path_gives_the_tokenizers_own_ids(tiny_encoder, tmp_path):
    """Even from a tokenizer saved to pad and truncate (as all-MiniLM-L6-v2's is: every text padded to 128)."""
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_encoder))
    tokenizer.backend_tokenizer.enable_padding(length=16)
    tokenizer.backend_tokenizer.enable_truncation(max_length=3)
    tokenizer.save_pretrained(tmp_path)
    texts = ["John", "New York", "@mary", "", "  ", "smithapple", "é", "john went to new york with mary and smith"]
    saved = AutoTokenizer.from_pretrained(str(tmp_path))
    assert saved.is_fast and saved.backend_tokenizer.padding is not None  # the state the fast path must undo
    ids = views.encode_texts(saved, texts)
    assert ids == AutoTokenizer.from_pretrained(str(tmp_path))(texts, add_special_tokens=False)["input_ids"]
    assert len(ids[-1]) > 3 and all(0 not in pieces for pieces in ids)  # neither cut nor padded
