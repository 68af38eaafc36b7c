"""Prompt templates, import-knowledge, and the no-openai-on-import rule."""
import subprocess
import sys

import pytest
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from corpus_checks import check_import_qwen_knowledge
from llm_helpers import text
from spacy_cot_distill.cli import app
from spacy_cot_distill.llm import DIMS, PromptTemplates
from spacy_cot_distill.llm.prompts import doc_messages

SYSTEM = "You are a helpful assistant. Be concise: answer in at most four short sentences."


def test_ner_templates_use_the_papers_wording():
    templates = PromptTemplates()
    # the format the shared Qwen knowledge was asked in (../shared/data/README.md)
    assert templates.messages("noun", "RT @x Kobe wins") == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Help me explain the meaning of special words for understanding.\nRT @x Kobe wins"},
    ]
    user = templates.messages("multimodal", "Kobe wins", caption="a man with a ball")[1]["content"]
    assert user == "What is the relation between the text and the attached image?\nText: Kobe wins\nImage: a man with a ball"
    assert "Image:" not in templates.messages("multimodal", "Kobe wins")[1]["content"]
    for dim in DIMS:
        assert "Kobe wins" in templates.messages(dim, "Kobe wins")[1]["content"]


def test_an_image_goes_as_a_content_part_instead_of_the_caption():
    content = PromptTemplates().messages("multimodal", "Kobe wins", caption="a ball", image_url="data:image/png;base64,AA")[1]["content"]
    assert content[0]["type"] == "text" and "Image:" not in content[0]["text"]
    assert content[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}


def test_relation_templates_name_head_and_tail():
    templates = PromptTemplates()
    for dim in DIMS:
        user = templates.messages(dim, "Kobe plays for the Lakers", head="Kobe", tail="Lakers")[1]["content"]
        assert "Kobe" in user and "Lakers" in user and user != templates.messages(dim, "Kobe plays for the Lakers")[1]["content"]
    doc = Doc(Vocab(), words=["Kobe", "plays", "for", "the", "Lakers"])
    user = doc_messages(templates, doc, "noun", {"head": [0, 1], "tail": [4, 5]})[1]["content"]
    assert "Head entity: Kobe\nTail entity: Lakers" in user
    with pytest.raises(ValueError, match="both head and tail"):
        templates.messages("noun", "x", head="Kobe")


def test_user_template_directory_overrides_the_packaged_ones(tmp_path):
    (tmp_path / "ner").mkdir()
    (tmp_path / "system.jinja").write_text("Answer in French.")
    (tmp_path / "ner" / "noun.jinja").write_text("Define the words of: {{ text }}")
    (tmp_path / "ner" / "slang.jinja").write_text("Which slang is in: {{ text }}")
    templates = PromptTemplates(tmp_path)
    assert templates.messages("noun", "gr8 game") == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Define the words of: gr8 game"},
    ]
    assert templates.messages("slang", "gr8")[1]["content"] == "Which slang is in: gr8"
    assert templates.messages("sentence", "gr8")[1]["content"].startswith("Explain the sentence")
    with pytest.raises(ValueError, match="No prompt template 'ner/unknown.jinja'"):
        templates.messages("unknown", "x")
    with pytest.raises(ValueError, match="does not exist"):
        PromptTemplates(tmp_path / "missing")


def test_a_template_naming_an_unknown_variable_is_an_error(tmp_path):
    (tmp_path / "ner").mkdir()
    (tmp_path / "ner" / "noun.jinja").write_text("{{ txt }}")
    with pytest.raises(ValueError, match="'ner/noun.jinja': 'txt' is undefined"):
        PromptTemplates(tmp_path).messages("noun", "x")


def test_import_knowledge_puts_the_qwen_knowledge_into_doc_cot(synthetic_data, tmp_path):
    check_import_qwen_knowledge(synthetic_data, tmp_path, docs=12)


def test_import_knowledge_reports_a_bad_file_by_line(tmp_path):
    docs = [Doc(Vocab(), words=["a", "b"])]
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "in.spacy")
    (tmp_path / "k.jsonl").write_text('{"tokens": ["a", "b"], "cot": {"noun": "x"}}\n{"tokens": "a b"}\n')
    result = CliRunner().invoke(app, ["import-knowledge", str(tmp_path / "in.spacy"), str(tmp_path / "k.jsonl"), str(tmp_path / "o.spacy")])
    assert result.exit_code == 1 and "k.jsonl:2:" in text(result)
    result = CliRunner().invoke(app, ["import-knowledge", str(tmp_path / "k.jsonl"), str(tmp_path / "k.jsonl"), str(tmp_path / "o.spacy")])
    assert result.exit_code == 1 and "not a .spacy DocBin" in text(result)


def test_importing_the_package_and_cli_does_not_import_openai():
    code = "import sys, spacy_cot_distill, spacy_cot_distill.llm, spacy_cot_distill.cli; print('openai' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_generate_names_the_bad_input_or_template_before_asking_anything(tmp_path):
    (tmp_path / "bad.spacy").write_text("not a docbin")
    DocBin(docs=[Doc(Vocab(), words=["a"])], store_user_data=True).to_disk(tmp_path / "in.spacy")
    args = ["--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--cache", str(tmp_path / "c.sqlite")]
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "bad.spacy"), str(tmp_path / "o.spacy"), *args])
    assert result.exit_code == 1 and "bad.spacy: not a .spacy DocBin" in text(result)
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "o.spacy"), "--dims", "bogus", *args])
    assert result.exit_code == 1 and "No prompt template 'ner/bogus.jinja'" in text(result)
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "o.spacy"), "--task", "x", *args])
    assert result.exit_code == 1 and "Unknown task 'x'" in text(result)
