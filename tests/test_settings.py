"""The distillation settings: one definition (`DistillSettings`), which the factories, the defaults and the docs follow."""
import inspect
import re
from dataclasses import fields
from pathlib import Path

import pytest
import spacy
from spacy.language import Language

from spacy_cot_distill.pipeline.ner import make_cot_ner
from spacy_cot_distill.pipeline.rel import make_cot_rel
from spacy_cot_distill.pipeline.settings import DISTILL_DEFAULTS, DistillSettings

ROOT = Path(__file__).resolve().parent.parent
FIELDS = {f.name: f for f in fields(DistillSettings)}


@pytest.mark.parametrize("factory,name", [(make_cot_ner, "cot_ner"), (make_cot_rel, "cot_rel")])
def test_each_factory_takes_every_setting_with_its_type_and_default(factory, name):
    parameters = inspect.signature(factory).parameters
    assert {key: parameters[key].annotation for key in FIELDS if key in parameters} == {
        key: f.type for key, f in FIELDS.items()}
    default_config = Language.get_factory_meta(name).default_config
    assert {key: default_config[key] for key in FIELDS} == DISTILL_DEFAULTS == {
        key: f.default for key, f in FIELDS.items()}


def test_every_setting_has_one_line_of_docs():
    for f in FIELDS.values():
        doc = f.metadata.get("doc", "")
        assert doc and "\n" not in doc, f.name


def configuration_table() -> str:
    """The configuration reference: docs/configuration.md where it exists, else the README's section."""
    docs = ROOT / "docs" / "configuration.md"
    if docs.exists():
        return docs.read_text(encoding="utf8")
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    return readme[readme.index("## Configuration reference"):]


def test_the_configuration_reference_lists_every_setting():
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", configuration_table(), re.MULTILINE))
    assert set(FIELDS) - rows == set()


@pytest.mark.parametrize("setting,value,says", [
    ("alpha", 1.5, r"alpha must be within \[0, 1\], not 1.5"),
    ("temperature", 0.0, "temperature must be positive"),
    ("segment_max_length", -1, "segment_max_length must be 0"),
    ("answer_sections", [""], "answer_sections must be a list of section headings"),
    ("train_views", "student", r"train_views must be one of \('both', 'teacher'\), not 'student'"),
    ("distill_from", "file", r"distill_from must be one of \('joint', 'stored'\), not 'file'"),
])
def test_a_bad_setting_is_named_with_the_values_it_takes(setting, value, says):
    with pytest.raises(ValueError, match=says):
        DistillSettings(**{setting: value})
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=says):  # through the factory, as a config gives it
        nlp.add_pipe("cot_ner", config={"model": {"encoder": "unused"}, setting: value})


def test_settings_that_contradict_each_other():
    with pytest.raises(ValueError, match="set one of them, in two trainings"):
        DistillSettings(train_views="teacher", distill_from="stored")
    with pytest.raises(ValueError, match='distill_from = "stored" needs distill = true'):
        DistillSettings(distill=False, distill_from="stored")


def test_dims_is_read_as_cot_dims():
    assert DistillSettings.from_args({**DISTILL_DEFAULTS, "dims": ["noun"]}).cot_dims == ["noun"]
    with pytest.raises(ValueError, match="old name of cot_dims"):
        DistillSettings.from_args({**DISTILL_DEFAULTS, "cot_dims": ["noun"], "dims": ["sentence"]})
