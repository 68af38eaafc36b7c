"""The GPU path (issue 29): `spacy train`, `cot-distill teach` and `annotate` with --gpu-id 0, int8 refused there, and
`nlp.pipe` on the GPU finding what it finds on the CPU.

Every test is marked `gpu`: where torch sees no CUDA GPU (CI) they are skipped, with the reason named in the test
summary; benchmarks/gpu_check.sh runs them on a GPU machine (`pytest -m gpu`, docs/gpu.md). The commands run as a
user runs them, each in a process of its own.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import DocBin

from spacy_cot_distill.data.teacher import read_distribution
from spacy_cot_distill.models.encoder import torch_module
from tiny_models import write_train_corpus
from tiny_relations import corpus

pytestmark = pytest.mark.gpu
ROOT = Path(__file__).resolve().parent.parent
# the load-time int8 switch, as a user passes it to spacy.load
INT8 = {"components": {name: {"model": {"quantize": "int8"}} for name in ("cot_ner", "cot_rel")}}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True)


def spacy_train(config: str, train: Path, encoder: Path, output: Path, gpu_id: int = 0) -> subprocess.CompletedProcess:
    """`spacy train configs/<config>` for 4 steps on the tiny corpus."""
    result = run("-m", "spacy", "train", ROOT / "configs" / config, "--output", output, "--gpu-id", gpu_id,
                 "--paths.train", train, "--paths.dev", train, "--paths.encoder", encoder,
                 "--training.max_steps", 4, "--training.eval_frequency", 2,
                 "--training.optimizer.learn_rate.warmup_steps", 1)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return result


def annotations(path: Path):
    """Each line of an `annotate` output as (entities, relations): the relations as (head, tail, label, score)."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [([(e["start"], e["end"], e["label"]) for e in line["entities"]],
             [(tuple(r["head"]), tuple(r["tail"]), r["label"], r["score"]) for r in line["relations"]]) for line in lines]


def assert_same(on_gpu, on_cpu):
    """The same entities and relations per doc, the relation scores within 1e-3 (GPU and CPU kernels round apart)."""
    assert len(on_gpu) == len(on_cpu)
    for (ents_gpu, rels_gpu), (ents_cpu, rels_cpu) in zip(on_gpu, on_cpu):
        assert ents_gpu == ents_cpu
        assert [r[:3] for r in rels_gpu] == [r[:3] for r in rels_cpu]
        assert all(abs(a[3] - b[3]) < 1e-3 for a, b in zip(rels_gpu, rels_cpu)), (rels_gpu, rels_cpu)


@pytest.fixture(scope="module")
def train_docs(tmp_path_factory) -> Path:
    return write_train_corpus(tmp_path_factory.mktemp("gpu_corpus") / "train.spacy")


@pytest.fixture
def texts(tmp_path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(corpus(40))), encoding="utf-8")
    return path


@pytest.mark.parametrize("config", ["cot_ner.cfg", "cot_rel.cfg"])
def test_spacy_train_runs_on_the_gpu(config, train_docs, tiny_encoder, tmp_path):
    result = spacy_train(config, train_docs, tiny_encoder, tmp_path)
    assert "Using GPU: 0" in result.stdout + result.stderr
    nlp = spacy.load(tmp_path / "model-last")
    weighted = {name for name, weight in nlp.config["training"]["score_weights"].items() if weight is not None}
    assert weighted and weighted <= set(nlp.meta["performance"]), nlp.meta["performance"]


def test_teach_on_the_gpu_stores_the_cpu_distributions(train_docs, tiny_encoder, tmp_path):
    spacy_train("cot_ner_teacher.cfg", train_docs, tiny_encoder, tmp_path / "teacher")
    for device, gpu_id in (("gpu", 0), ("cpu", -1)):
        result = run("-m", "spacy_cot_distill", "teach", tmp_path / "teacher" / "model-last", train_docs,
                     tmp_path / f"{device}.spacy", "--gpu-id", gpu_id)
        assert result.returncode == 0, result.stdout + result.stderr
    vocab = spacy.blank("en").vocab
    gpu, cpu = (list(DocBin().from_disk(tmp_path / f"{d}.spacy").get_docs(vocab)) for d in ("gpu", "cpu"))
    assert len(gpu) == len(cpu) == 4
    for on_gpu, on_cpu in zip(gpu, cpu):
        stored_gpu, stored_cpu = read_distribution(on_gpu), read_distribution(on_cpu)
        assert stored_gpu is not None and stored_cpu is not None and stored_gpu.tags == stored_cpu.tags
        assert numpy.allclose(stored_gpu.log_probs, stored_cpu.log_probs, atol=1e-4)


def test_annotate_on_the_gpu_writes_what_the_cpu_writes(pipeline, texts, tmp_path):
    for device, gpu_id in (("gpu", 0), ("cpu", -1)):
        result = run("-m", "spacy_cot_distill", "annotate", pipeline, texts, tmp_path / f"{device}.jsonl",
                     "--gpu-id", gpu_id, "--no-progress")
        assert result.returncode == 0, result.stdout + result.stderr
    gpu, cpu = annotations(tmp_path / "gpu.jsonl"), annotations(tmp_path / "cpu.jsonl")
    assert len(gpu) == 40 and any(ents for ents, _ in cpu[:4])
    assert_same(gpu, cpu)


def test_int8_is_refused_on_the_gpu_with_one_clear_line(pipeline, texts, tmp_path):
    result = run("-m", "spacy_cot_distill", "quantize", pipeline, tmp_path / "int8")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run("-m", "spacy_cot_distill", "annotate", tmp_path / "int8", texts, tmp_path / "out.jsonl",
                 "--gpu-id", 0, "--no-progress")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    refusals = [line for line in output.splitlines() if "int8" in line]
    assert len(refusals) == 1 and "CPU only" in refusals[0], output
    assert not (tmp_path / "out.jsonl").exists()


def test_pipe_on_the_gpu_gives_the_cpu_entities(pipeline):
    """The same trained model on both devices: the same entities and relations (a random one flips on near-ties)."""
    docs = corpus(60)

    def found(nlp):
        return [([(e.start_char, e.end_char, e.label_) for e in doc.ents],
                 [(tuple(r["head"]), tuple(r["tail"]), r["label"], r["score"]) for r in doc._.relations])
                for doc in nlp.pipe(docs, batch_size=16)]

    on_cpu = found(spacy.load(pipeline))
    try:
        spacy.require_gpu(0)
        nlp = spacy.load(pipeline)
        assert next(torch_module(nlp.get_pipe("cot_ner").model).parameters()).device.type == "cuda"
        on_gpu = found(nlp)
        # int8 is CPU only: asked for at load time on the GPU, it is refused there too
        with pytest.raises(ValueError, match="int8 .* CPU only"):
            spacy.load(pipeline, config=INT8)
    finally:
        spacy.require_cpu()
    assert any(ents for ents, _ in on_cpu[:4])
    assert_same(on_gpu, on_cpu)
