"""int8: cot_ner + cot_rel with int8 weights and per-token int8 activations, saved, loaded and used like the fp32
pipeline."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import Config
from typer.testing import CliRunner

from spacy_cot_distill.cli import app
from spacy_cot_distill.models.ner_model import build_cot_ner_model
from spacy_cot_distill.models.views import DocViews
from spacy_cot_distill.quantize import (ACTIVATION_LEVELS, INT8_NOTE, WEIGHT_LEVELS, Int8Linear, is_quantize_output,
                                        is_quantized, quantize_pipeline)

QUANTIZABLE = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
from tiny_relations import TRAIN, corpus, make_doc, train


def predictions(nlp, texts, batch_size=None):
    return [([(e.start_char, e.end_char, e.label_) for e in doc.ents],
             [(tuple(r["head"]), tuple(r["tail"]), r["label"], round(r["score"], 5)) for r in doc._.relations])
            for doc in nlp.pipe(texts, batch_size=batch_size)]


def torch_modules(nlp):
    return [shim._model for _, proc in nlp.components for node in proc.model.walk() for shim in node.shims]


def test_int8_pipeline_saves_loads_and_predicts_as_before_saving(pipeline, tmp_path):  # noqa: F811
    texts = corpus(20)
    fp32 = spacy.load(pipeline)
    int8 = spacy.load(pipeline)
    assert quantize_pipeline(int8) == ["cot_ner", "cot_rel"]
    assert all(is_quantized(m) for m in torch_modules(int8)) and not any(is_quantized(m) for m in torch_modules(fp32))
    before = predictions(int8, texts)
    # int8 keeps what the tiny model found on its training tweets
    assert [ents for ents, _ in before[:4]] == [ents for ents, _ in predictions(fp32, texts[:4])]

    result = CliRunner().invoke(app, ["quantize", str(pipeline), str(tmp_path / "int8")])
    assert result.exit_code == 0, result.output
    loaded = spacy.load(tmp_path / "int8")
    assert all(is_quantized(m) for m in torch_modules(loaded))
    assert predictions(loaded, texts) == before
    # and once more through to_disk of the loaded int8 pipeline
    loaded.to_disk(tmp_path / "again")
    assert predictions(spacy.load(tmp_path / "again"), texts) == before


def test_int8_predictions_do_not_depend_on_which_docs_share_a_batch(pipeline):  # noqa: F811
    # texts of many lengths, so that each batch pads differently; issue 28: per-batch activation scales gave
    # other entities to some docs with -b 4 than with -b 64
    texts = [" ".join([text] * (1 + i % 4)) for i, text in enumerate(corpus(40))]
    int8 = spacy.load(pipeline)
    quantize_pipeline(int8)
    alone = predictions(int8, texts, batch_size=1)
    for batch_size in (3, 64):
        batched = predictions(int8, texts, batch_size=batch_size)
        assert [ents for ents, _ in batched] == [ents for ents, _ in alone]
        scores = [(a[3], b[3]) for (_, ra), (_, rb) in zip(batched, alone) for a, b in zip(ra, rb)]
        assert [r[:3] for _, rels in batched for r in rels] == [r[:3] for _, rels in alone for r in rels]
        assert scores and max(abs(a - b) for a, b in scores) <= 1e-4


def test_int8_logits_of_a_doc_are_the_same_bits_in_any_batch(pipeline):  # noqa: F811
    # the fp32 layers between the int8 ones rounded a row's last bits differently beside other rows and padding,
    # and one bit could move a value onto the next int8 step: on a trained cot_ner, 2 of 723 docs got other
    # entities between batch 1 and batch 64. Each row is now encoded alone, unpadded.
    int8 = spacy.load(pipeline)
    quantize_pipeline(int8)
    ner = int8.get_pipe("cot_ner")
    docs = [int8.make_doc(" ".join([text] * (1 + i % 3))) for i, text in enumerate(corpus(12))]

    def logits(batch):
        return ner.model.predict(DocViews(batch, ner.cfg["max_length"], student=True))[0]

    together = logits(docs)
    starts = [sum(len(doc) for doc in docs[:i]) for i in range(len(docs))]
    for doc, start in zip(docs, starts):
        assert torch.equal(logits([doc]), together[start : start + len(doc)])
    # and the relation scores, which the fp32 pipeline keeps only within 1e-4 (float noise)
    alone = [[r["score"] for r in doc._.relations] for doc in int8.pipe([d.text for d in docs], batch_size=1)]
    batched = [[r["score"] for r in doc._.relations] for doc in int8.pipe([d.text for d in docs], batch_size=64)]
    assert any(alone) and batched == alone


def test_a_batch_invariant_encoder_never_pads_a_row_past_the_encoders_positions():
    from transformers import BertConfig, BertModel

    from spacy_cot_distill.models.prompt_generator import PromptedEncoder

    torch.manual_seed(0)
    # 9 positions, 2 soft prompts: a row of 7 fills them; rounded up to 8 it would not fit
    config = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=9)
    encoder = PromptedEncoder(BertModel(config), m=2, n_heads=2).eval()
    encoder.batch_invariant = True
    ids = torch.randint(1, 30, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 3:] = 0
    with torch.inference_mode():
        together = encoder(ids, mask, prompted=True)
        assert together.shape == (2, 7, 8)
        assert torch.equal(encoder(ids[:1], mask[:1], prompted=True)[0], together[0])
        assert torch.equal(encoder(ids[1:, :3], mask[1:, :3], prompted=True)[0], together[1, :3])


def test_int8_linear_quantises_each_row_alone_and_reads_dynamically_quantised_weights():
    torch.manual_seed(0)
    linear = torch.nn.Linear(24, 10)
    layer = Int8Linear.from_float(linear)
    x = torch.randn(2, 7, 24) * torch.linspace(0.1, 30, 7)[None, :, None]  # rows of very different magnitude
    out = layer(x)
    # a row's output is bit for bit the same alone, among others, or next to a huge padding row
    for i in range(7):
        assert torch.equal(layer(x[:, i:i + 1]), out[:, i:i + 1])
    assert torch.equal(layer(torch.cat([x, torch.full((2, 1, 24), 1e4)], dim=1))[:, :7], out)
    assert (out - linear(x)).abs().max() < 0.05 * linear(x).abs().max()
    # an int8 pipeline saved before (torch.ao dynamic, 8-bit per-channel weights) loads into Int8Linear, its
    # weights taken to 7 bits
    legacy = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(linear), QUANTIZABLE, dtype=torch.qint8)
    loaded = torch.nn.Sequential(Int8Linear(24, 10))
    loaded.load_state_dict(legacy.state_dict())
    assert int(loaded[0].weight.abs().max()) == WEIGHT_LEVELS
    dequantized = loaded[0].weight.t().float() * loaded[0].weight_scale[:, None]
    step = loaded[0].weight_scale[:, None]
    assert ((dequantized - legacy[0].weight().dequantize()).abs() <= step).all()
    assert torch.equal(loaded[0].bias, linear.bias.detach())


def test_int8_linear_is_the_exact_integer_product_even_at_the_extremes():
    # every weight at its largest magnitude, every activation at its row's peak: the products fbgemm sums in pairs
    # in 16 bits must not overflow (8-bit activations and 8-bit weights would on CPUs without VNNI)
    linear = torch.nn.Linear(64, 8)
    with torch.no_grad():
        linear.weight.copy_(torch.ones(8, 64) * torch.tensor([1.0, -1.0] * 4)[:, None])
    layer = Int8Linear.from_float(linear)
    x = torch.cat([torch.full((1, 64), 3.0), torch.full((1, 64), -2.0), torch.randn(6, 64)])
    peak = x.abs().amax(dim=1, keepdim=True)
    quantized = torch.round(x / peak * ACTIVATION_LEVELS).double()
    exact = (quantized @ layer.weight.double()) * (peak.double() / ACTIVATION_LEVELS) * layer.weight_scale.double()
    assert torch.allclose(layer(x).double(), exact + linear.bias.detach().double(), rtol=1e-5, atol=1e-5)


def test_quantize_refuses_a_pipeline_without_a_distilled_model(tmp_path):
    spacy.blank("en").to_disk(tmp_path / "blank")
    result = CliRunner().invoke(app, ["quantize", str(tmp_path / "blank"), str(tmp_path / "out")])
    assert result.exit_code == 1 and "no component of [] has a distilled torch model" in result.output
    assert not (tmp_path / "out").exists()


def quantize_cli(*args):
    return CliRunner().invoke(app, ["quantize", *map(str, args)])


def test_quantize_never_removes_what_it_did_not_write(pipeline, tmp_path, monkeypatch):  # noqa: F811
    # issue 28: OUT was removed whatever it was: a folder of the user's files, the training run holding the
    # input, the current folder
    run = tmp_path / "training"
    model = Path(shutil.copytree(pipeline, run / "model-best"))
    (run / "notes.txt").write_text("mine")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    monkeypatch.chdir(run)
    for out, why in ((mine, "exists and is not an earlier output of `cot-distill quantize`: give a new folder, or --force"),
                     (run, "is or holds the input pipeline"), (model, "is or holds the input pipeline"),
                     (Path("."), "is or holds the input pipeline")):
        for force in ((), ("--force",)):
            if force and out == mine:
                continue
            result = quantize_cli(model, out, *force)
            assert result.exit_code == 1 and why in " ".join(result.output.split()), result.output
            assert "Traceback" not in result.output
    assert (mine / "keep.txt").read_text() == "mine" and (run / "notes.txt").read_text() == "mine"
    assert spacy.load(model).meta == spacy.load(pipeline).meta
    monkeypatch.chdir(tmp_path)
    result = quantize_cli(model, tmp_path / "elsewhere", "--force")  # nothing there: --force changes nothing
    assert result.exit_code == 0, result.output

    # an earlier output is replaced (and its int8 note not repeated); --force replaces the user's folder
    int8, twice = tmp_path / "int8", tmp_path / "twice"
    for source, out in ((model, int8), (model, int8), (int8, twice)):
        result = quantize_cli(source, out)
        assert result.exit_code == 0, result.output
        description = spacy.load(out).meta["description"]
        assert description.count("(int8") == 1 and description.endswith(INT8_NOTE)
    assert quantize_cli(model, mine, "--force").exit_code == 0
    assert not (mine / "keep.txt").exists() and is_quantize_output(mine)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


# the load-time switch: a nested override of the model's setting, as a user passes it to spacy.load
INT8 = {"components": {name: {"model": {"quantize": "int8"}} for name in ("cot_ner", "cot_rel")}}


def test_int8_chosen_at_load_time_by_the_config_saves_and_packages_as_int8(pipeline, tmp_path):  # noqa: F811
    texts = corpus(20)
    fp32 = spacy.load(pipeline)
    assert fp32.config["components"]["cot_ner"]["model"]["quantize"] is None
    # an fp32 pipeline whose config predates the setting takes the override as well
    old = shutil.copytree(pipeline, tmp_path / "old")
    config = (old / "config.cfg").read_text()
    (old / "config.cfg").write_text(config.replace("quantize = null\n", ""))
    assert "quantize" not in Config().from_disk(old / "config.cfg")["components"]["cot_ner"]["model"]
    int8 = spacy.load(old, config=INT8)
    assert all(is_quantized(m) for m in torch_modules(int8)) and not any(is_quantized(m) for m in torch_modules(fp32))
    before, reference = predictions(int8, texts), predictions(fp32, texts)
    # close to fp32: the entities of the training tweets, the relation scores of the pairs both found
    assert [ents for ents, _ in before[:4]] == [ents for ents, _ in reference[:4]]
    shared = []
    for (_, rels8), (_, rels32) in zip(before, reference):
        scores32 = {r[:3]: r[3] for r in rels32}
        shared += [(scores32[r[:3]], r[3]) for r in rels8 if r[:3] in scores32]
    diffs = [abs(a - b) for a, b in shared]
    assert shared and max(diffs) < 0.1 and sum(diffs) / len(diffs) < 0.02, shared

    # saved: the config keeps the switch (and the bytes are int8), so it loads as int8 again
    int8.to_disk(tmp_path / "int8")
    assert Config().from_disk(tmp_path / "int8" / "config.cfg")["components"]["cot_ner"]["model"]["quantize"] == "int8"
    again = spacy.load(tmp_path / "int8")
    assert all(is_quantized(m) for m in torch_modules(again))
    assert predictions(again, texts) == before

    # packaged: `spacy package` keeps the setting in config.cfg and the package loads as int8
    subprocess.run([sys.executable, "-m", "spacy", "package", str(tmp_path / "int8"), str(tmp_path),
                    "--name", "cot_int8", "--version", "0.0.1", "--build", "none", "--force"],
                   check=True, capture_output=True)
    packaged = tmp_path / "en_cot_int8-0.0.1" / "en_cot_int8" / "en_cot_int8-0.0.1"
    assert Config().from_disk(packaged / "config.cfg")["components"]["cot_rel"]["model"]["quantize"] == "int8"
    loaded = spacy.load(packaged)
    assert all(is_quantized(m) for m in torch_modules(loaded))
    assert predictions(loaded, texts) == before


def test_a_config_with_int8_trains_in_fp32_and_saves_a_pipeline_that_loads_as_int8(tiny_encoder, tmp_path):
    model = {"encoder": str(tiny_encoder), "m": 2, "n_heads": 2, "quantize": "int8"}
    nlp = spacy.blank("en")
    nlp.add_pipe("cot_ner", config={"model": model, "max_length": 32})
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN]
    losses = train(nlp, [Example(nlp.make_doc(doc.text), doc) for doc in gold], 3)  # initialize leaves it fp32
    assert losses["cot_ner"] > 0 and not any(is_quantized(m) for m in torch_modules(nlp))
    nlp.to_disk(tmp_path / "model")
    assert all(is_quantized(m) for m in torch_modules(spacy.load(tmp_path / "model")))


def test_int8_pipeline_refuses_training(pipeline):  # noqa: F811
    nlp = spacy.load(pipeline, config=INT8)
    doc = nlp(corpus(1)[0])
    with pytest.raises(ValueError, match="int8 .* cannot be trained"):
        nlp.update([Example(nlp.make_doc(doc.text), doc)])


def test_quantize_setting_is_checked():
    with pytest.raises(ValueError, match="quantize must be null .* or \"int8\", not 'int4'"):
        build_cot_ner_model("unused", quantize="int4")
