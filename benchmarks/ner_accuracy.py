"""NER accuracy on a Twitter `valid` split: one result line per (dataset, row, seed, settings), resumable.

Rows: (a) stock spaCy transformer + ner (configs/baseline_ner.cfg); (b) cot_ner
without distillation (student alone); (c) cot_ner distilled with the ChatGPT
knowledge, text only at inference; (d) the same with the Qwen knowledge
(noun + sentence + multimodal); (e) the (c) model's teacher view, reading the
valid docs' ChatGPT knowledge (no extra training: (c)'s model); (t) the teacher
trained alone (configs/cot_ner_teacher.cfg, stage one of two-stage
distillation), reading the valid docs' knowledge, in training too; (f) a
two-stage student: `cot-distill teach` stores the seed-0 (t) model's
distributions on the train docs once (cached under --work), then cot_ner.cfg
with `distill_from = "stored"` trains on them, text only at inference; its
record carries the teacher's one-off cost (the (t) training's seconds and the
`teach` seconds) apart from its own; (g) the same with cross-fitted teachers: (t)
trained twice, each time on one half of train (half the steps: the same epochs,
one (t)'s cost in all), each teaching the half it did not train on, so that no
stored distribution comes from a teacher that saw the doc's gold tags. The label-efficiency
study's rows (--gold-fraction below 1): (u) (c) plus the rest of train as
unlabelled docs; (p) a stock student on gold plus the rest labelled by (c)'s
teacher view (hard labels); (v) (u) in two stages: (c)'s teacher view teaches
the gold subset and the rest, and a two-stage student learns from the stored
distributions, half of each batch's words from the rest (soft labels); (s) (u)
with silver labels from the ChatGPT entity lists; (s0) silver labels only; (x)
all gold plus the other Twitter dataset's train unlabelled. Every
trained row gets the same steps, batches and optimizer, and is evaluated on valid every --eval-every steps; the
result is spaCy's ents_p/r/f (overall and per type) of model-best on the gold
tokens of valid, text only (knowledge for (e) and (t)).

Each run appends one JSON line to --results (benchmarks/results/ner.jsonl):
the run's key (dataset, row, seed, steps, batch words, settings, student settings, encoder), the
scores, the learning curve, seconds, commit and machine. A run already recorded
is skipped, so a study can be spread over several sittings and resumed after a
kill; trained models are kept under --work. Summarise with
`python -m benchmarks.summary ner`.

  OMP_NUM_THREADS=1 nice -n 15 python -m benchmarks.ner_accuracy twitter2017 --rows a,b,c,e --seeds 0,1,2
  ... --rows c,e --set components.cot_ner.max_length=128      (a screen: settings are part of the key)
  ... --rows c,t,f --seeds 0,1,2                               (two-stage against joint; one teacher, seed 0)
  ... --rows f --student-set components.cot_ner.temperature=2  (a student setting: the same teacher, taught once)
  ... --rows a,c --seeds 0,1,2 --gold-fraction 0.1             (the label-efficiency study: 10% of train's docs)

The label-efficiency study (--gold-fraction below 1) trains on the first share
of train in the seed's random order (nested across fractions) and gives every
distilled row's teacher STUDY_TEACHER's setting, recorded as "study_settings".
"""
import argparse
import json
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import spacy
import numpy
import srsly
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc
from spacy.training import Example

from benchmarks.results import (
    KNOWLEDGE_SOURCES, ROOT, YEAR, ResultsFile, add_run_arguments, check_overrides, curve, parse_settings,
    record_runs, resolve_encoder, run_dir, spacy_train, trained_fields,
)
from spacy_cot_distill.data.convert import convert_twitter
from spacy_cot_distill.data.spans import hide_annotation
from spacy_cot_distill.evaluate import gold_examples
from spacy_cot_distill.files import write_file


@dataclass(frozen=True)
class Training:
    """How a model is trained: its config, the knowledge source of its docs, its config overrides, and, for a
    two-stage student, the training whose seed-0 model teaches its train docs (`cot-distill teach`), and into how
    many folds train is cut for it (1: one teacher trains on all and teaches all; k: k teachers, each trained
    without one fold, which it teaches)."""

    config: str
    knowledge: str
    overrides: Dict[str, Any] = field(default_factory=dict)
    teacher: Optional[str] = None
    folds: int = 1
    # the label-efficiency study: unlabelled docs mixed into training ("rest": the train docs outside the gold
    # subset, their gold hidden; "other": the other Twitter dataset's train), and the training whose teacher view,
    # reading the knowledge, labels the rest of train for this one (silver, trained as gold: hard labels)
    unlabelled: Optional[str] = None
    labeller: Optional[str] = None
    # silver labels from the entity lists of the ChatGPT answers on the docs without gold, trained as gold
    silver: bool = False
    # the training whose teacher view, reading the knowledge, teaches the gold subset and the rest of train
    # (`cot-distill teach`) for this two-stage student: (u) in two stages, (p)'s labeller giving soft labels; its
    # taught rest is the row's unlabelled corpus, so such a row has unlabelled = "rest"
    taught_by: Optional[str] = None


# one line per trained model; a component setting renamed is a one-line edit here
TRAININGS = {
    "a": Training("baseline_ner.cfg", "gpt"),
    "b": Training("cot_ner.cfg", "gpt", {"components.cot_ner.distill": False}),
    "c": Training("cot_ner.cfg", "gpt"),
    "d": Training("cot_ner.cfg", "qwen", {"components.cot_ner.cot_dims": ["noun", "sentence", "multimodal"]}),
    "t": Training("cot_ner_teacher.cfg", "gpt"),
    "f": Training("cot_ner.cfg", "gpt", {"components.cot_ner.distill_from": "stored"}, teacher="t"),
    "g": Training("cot_ner.cfg", "gpt", {"components.cot_ner.distill_from": "stored"}, teacher="t", folds=2),
    "u": Training("cot_ner.cfg", "gpt", unlabelled="rest"),
    "p": Training("baseline_ner.cfg", "gpt", labeller="c"),
    "x": Training("cot_ner.cfg", "gpt", unlabelled="other"),
    "s": Training("cot_ner.cfg", "gpt", unlabelled="rest", silver=True),
    "s0": Training("cot_ner.cfg", "gpt", silver=True),
    "v": Training("cot_ner.cfg", "gpt", {"components.cot_ner.distill_from": "stored"}, unlabelled="rest",
                  taught_by="c"),
}
# the seed of the teacher a two-stage student learns from, whatever the student's seed: one teacher per dataset,
# knowledge source, budget, settings and encoder
TEACHER_SEED = 0
# row -> (description, the training it scores, whether the valid docs' knowledge is read at inference)
ROWS: Dict[str, Tuple[str, str, bool]] = {
    "a": ("stock transformer + ner", "a", False),
    "b": ("cot_ner, student alone", "b", False),
    "c": ("cot_ner distilled, ChatGPT knowledge", "c", False),
    "d": ("cot_ner distilled, Qwen knowledge", "d", False),
    "e": ("(c)'s teacher view, knowledge at inference", "c", True),
    "t": ("teacher alone, knowledge at inference", "t", True),
    "f": ("cot_ner two-stage student, ChatGPT knowledge", "f", False),
    "g": ("cot_ner two-stage student, cross-fitted teachers", "g", False),
    "u": ("(c) + the rest of train unlabelled, with its knowledge", "u", False),
    "p": ("stock on gold + the rest of train labelled by (c)'s teacher view", "p", False),
    "x": ("(c) + the other Twitter dataset's train unlabelled", "x", False),
    "s": ("(u) with silver labels on the unlabelled docs", "s", False),
    "s0": ("no gold: silver labels on train, distilled", "s0", False),
    "v": ("(u) in two stages: (c)'s teacher view teaches gold and rest", "v", False),
}
DIFFERENCES = [("c", "b"), ("c", "a"), ("f", "c"), ("f", "b"), ("f", "a"), ("g", "f"), ("g", "b"), ("g", "a"),
               ("u", "a"), ("u", "p"), ("u", "c"), ("p", "a"), ("x", "a"), ("s", "u"), ("s", "a"),
               ("v", "a"), ("v", "p"), ("v", "u")]
OTHER = {"twitter2015": "twitter2017", "twitter2017": "twitter2015"}
# the train docs of each dataset: the gold docs of a full-gold record written before records held "gold_docs"
TRAIN_DOCS = {"twitter2017": 3373, "twitter2015": 4000}


def knowledge_without_nulls(src: Path, dst: Path) -> Path:
    """A copy of a knowledge file without records whose knowledge is null (they count as missing)."""
    records = [r for r in srsly.read_jsonl(src) if r.get("knowledge", "") is not None]
    write_file(dst, "".join(srsly.json_dumps(record) + "\n" for record in records))
    return dst


def make_data(dataset: str, data: Path, work: Path) -> dict:
    """Convert train and valid with captions and each knowledge source; returns {(split, source): path}."""
    year = YEAR[dataset]
    paths = {}
    for split in ("train", "valid"):
        for source, (folder, dim) in (("gpt", KNOWLEDGE_SOURCES["chatgpt"]), ("qwen", KNOWLEDGE_SOURCES["qwen"])):
            know = data / "knowledge" / folder / f"{dataset}_{split}.jsonl"
            out = work / f"{dataset}_{split}_{source}.spacy"
            if not out.exists():
                if source == "gpt":
                    know = knowledge_without_nulls(know, work / know.name)
                convert_twitter(
                    data / f"{dataset}/{split}.txt", out, data / f"captions/BLIP2_{year}_train_valid.txt", know, dim
                )
            paths[split, source] = out
    return paths


# The label-efficiency study (--gold-fraction below 1, and rows u, p, x), fixed before its first run: every
# distilled row's teacher reads the entity list of the ChatGPT answers (as accurate as the whole answer at full
# gold, at half its step cost); unlabelled docs hold half of each batch's words, read on through the whole
# unlabelled corpus (spaCy reads the train corpus anew each epoch only with max_epochs = -1)
STUDY_TEACHER: Dict[str, Any] = {"components.cot_ner.answer_sections": ["Named entities"]}
STUDY_MIX: Dict[str, Any] = {"corpora.train.unlabelled_share": 0.5, "training.max_epochs": -1}
STUDY_SILVER: Dict[str, Any] = {"corpora.train.silver_as_gold": True}
# the rows of the label-efficiency plot (those not run yet are left out), and the settings of the full-gold runs
# it compares: (c) with the study's teacher, (a) and the others as run
STUDY_ROWS = ("a", "c", "u", "p", "v", "s", "s0", "x", "aug")
STUDY_AT_FULL_GOLD = {"c": STUDY_TEACHER}
# the split the runs are scored on, as the plots name it
EVAL_SPLIT = "valid"
# the rows the plots compare by default: the converged study's and the label-efficiency study's
PLOT_ROWS = ("a", "b", "c", "e") + STUDY_ROWS[2:]


def split_train(docs_path: Path, fraction: float, seed: int, work: Path) -> Tuple[Path, Path]:
    """(gold, rest): the first `fraction` of train in the seed's random order, and the other docs with their
    entities hidden (every tag missing, knowledge kept), each in corpus order. The gold subsets of one seed are
    nested (5% within 10% within 25%) and the same for every row."""
    from spacy_cot_distill.data.docbin import read_docs, write_docs

    gold = work / f"{docs_path.stem}_gold{fraction:g}_s{seed}.spacy"
    rest = work / f"{docs_path.stem}_rest{fraction:g}_s{seed}.spacy"
    if not (gold.exists() and rest.exists()):
        docs = read_docs(docs_path)
        order = numpy.random.RandomState(seed).permutation(len(docs))
        keep = set(order[: round(fraction * len(docs))].tolist())
        write_docs(gold, [doc for i, doc in enumerate(docs) if i in keep])
        write_docs(rest, [hide_entities(doc) for i, doc in enumerate(docs) if i not in keep])
    return gold, rest


def hide_entities(doc: Doc) -> Doc:
    """A copy of `doc` as an unlabelled doc (`data.spans.hide_annotation`): its knowledge, caption and id kept."""
    doc = doc.copy()
    hide_annotation(doc)
    return doc


def labelled_by(model: Path, docs_path: Path, out: Path) -> Path:
    """The docs of `docs_path` with the entities that `model`'s teacher view, reading their knowledge, predicts,
    as silver (`cot-distill silver --from-teacher`: the two-step recipe), trained as gold (hard labels)."""
    from spacy_cot_distill.teach import find_teacher, teacher_silver

    if not out.exists():
        teacher_silver(find_teacher(spacy.load(model)), docs_path, out)
    return out


def taught_with(model: Path, docs_path: Path, out: Path) -> Path:
    """The docs of `docs_path` with the distributions of `model`'s teacher view, reading their knowledge
    (`cot-distill teach`), for a two-stage student."""
    from spacy_cot_distill.teach import find_teacher, teach

    if not out.exists():
        teach(find_teacher(spacy.load(model)), docs_path, out)
    return out


def train(name: str, paths: dict, encoder: str, steps: int, batch_words: int, seed: int, out: Path, gpu_id: int,
          eval_every: int, settings: Dict[str, Any], train_docs: Optional[Path] = None):
    """`spacy train` the training `name` of TRAININGS with `settings` on top (or read back a finished one);
    `train_docs` in place of the train split (a two-stage student's taught docs)."""
    spec = TRAININGS[name]
    overrides = {
        "paths.train": str(train_docs or paths["train", spec.knowledge]),
        "paths.dev": str(paths["valid", spec.knowledge]),
        "paths.encoder": encoder, "training.max_steps": steps,
        "training.optimizer.learn_rate.warmup_steps": max(1, steps // 10),
        "training.batcher.size": batch_words, "training.eval_frequency": eval_every, "system.seed": seed,
        **spec.overrides, **settings,
    }
    return spacy_train(ROOT / "configs" / spec.config, out, overrides, gpu_id)


def taught_docs(name: str, paths: dict, args: argparse.Namespace,
                settings: Dict[str, Any]) -> Tuple[Path, Dict[str, Any]]:
    """The train docs of TRAININGS[name] with its teachers' distributions, and the teachers' one-off costs.

    Each teacher (the training `TRAININGS[name].teacher` at TEACHER_SEED; with
    one fold, the very run of that row's own seed 0) is trained once, and the
    docs are taught once; both are kept under --work and read back in later sittings.
    """
    from spacy_cot_distill.data.docbin import read_docs, write_docs
    from spacy_cot_distill.teach import find_teacher, teach_docs

    spec = TRAININGS[name]
    assert spec.teacher is not None
    folds = spec.folds
    train_path = paths["train", spec.knowledge]
    docs = read_docs(train_path)
    # a teacher of one fold of several trains on the other folds for the same epochs: fewer steps
    steps = args.steps * (folds - 1) // folds if folds > 1 else args.steps

    def teacher_dir(*fold: str) -> Path:
        return run_dir(args.work, args.dataset, spec.teacher, f"{steps}x{args.batch_words}", f"e{args.eval_every}",
                       f"s{TEACHER_SEED}", *fold, settings=settings, encoder=args.encoder_name)

    trainings, models = [], []
    for k in range(folds):
        out = teacher_dir(f"fold{k}of{folds}") if folds > 1 else teacher_dir()
        rest = None
        if folds > 1:
            rest = args.work / f"{args.dataset}_train_{spec.knowledge}_without_fold{k}of{folds}.spacy"
            if not rest.exists():
                write_docs(rest, [doc for i, doc in enumerate(docs) if i % folds != k])
        trainings.append(train(spec.teacher, paths, args.encoder, steps, args.batch_words, TEACHER_SEED, out,
                               args.gpu_id, args.eval_every, settings, rest))
        models.append(out / "model-best")
    union = teacher_dir(f"{folds}folds") if folds > 1 else teacher_dir()
    taught = union.with_name(f"{union.name}_taught_{args.dataset}_train_{spec.knowledge}.spacy")
    marker = taught.with_suffix(".json")  # written after the DocBin: the mark of a finished teaching
    if not marker.exists():
        start = time.perf_counter()
        without = sum(teach_docs(find_teacher(spacy.load(model)), docs[k::folds]).without_knowledge
                      for k, model in enumerate(models))
        write_docs(taught, docs)
        write_file(marker, json.dumps({"seconds": round(time.perf_counter() - start, 1), "docs": len(docs),
                                       "without_knowledge": without}))
    done = json.loads(marker.read_text())
    step_seconds = [t.step_seconds for t in trainings if t.step_seconds is not None]
    return taught, {
        "trained_as": spec.teacher, "seed": TEACHER_SEED, "folds": folds, "models": [str(m) for m in models],
        "train_seconds": round(sum(t.seconds for t in trainings), 1),
        "step_seconds": sum(step_seconds) / len(step_seconds) if step_seconds else None,
        "best_f": [max((p["f"] or 0.0 for p in curve(t, "ents_f", "ents_p", "ents_r")), default=None)
                   for t in trainings],
        "teach_seconds": done["seconds"], "taught_docs": done["docs"],
        "docs_without_knowledge": done["without_knowledge"],
    }


def fit(name: str, paths: dict, args: argparse.Namespace, seed: int, settings: Dict[str, Any],
        student_settings: Dict[str, Any]) -> Tuple[Path, Any, Optional[Dict[str, Any]], Dict[str, Any]]:
    """Train TRAININGS[name] at args' budget and gold fraction (or read back the finished training): its folder,
    the training, a two-stage student's teacher costs, and the study's own overrides it trained with."""
    spec = TRAININGS[name]
    fraction = args.gold_fraction
    study_row = fraction < 1 or spec.unlabelled is not None or spec.labeller is not None or spec.silver
    # the study's settings go into the run's own overrides, not its key: gold_fraction and the row name the study
    study = {**(STUDY_TEACHER if study_row and spec.config != "baseline_ner.cfg" else {}),
             **(STUDY_MIX if spec.unlabelled else {}), **(STUDY_SILVER if spec.silver or spec.labeller else {})}
    parts = [f"gold{fraction:g}"] if fraction < 1 else []
    out = run_dir(args.work, args.dataset, name, *parts, f"{args.steps}x{args.batch_words}", f"e{args.eval_every}",
                  f"s{seed}", settings=settings, encoder=args.encoder_name, student_settings=student_settings)
    train_docs, teacher, extra = None, None, {}
    gold, rest = split_train(paths["train", spec.knowledge], fraction, seed, args.work) if fraction < 1 else \
        (paths["train", spec.knowledge], None)
    if spec.teacher is not None:
        train_docs, teacher = taught_docs(name, paths, args, settings)
    elif fraction < 1:
        train_docs = gold
    if spec.silver:
        assert rest is not None
        rest = with_silver(rest, paths["train", spec.knowledge])
    if spec.unlabelled == "rest":
        assert rest is not None  # main() refuses the row at full gold
        extra = {"paths.unlabelled": str(rest)}
    elif spec.silver:  # no gold at all: the silver docs are the train corpus
        assert rest is not None
        train_docs = rest
    elif spec.unlabelled == "other":
        other = OTHER[args.dataset]
        extra = {"paths.unlabelled": str(unlabelled_other(other, args))}
    if spec.labeller is not None:
        assert rest is not None
        labeller, *_ = fit(spec.labeller, paths, args, seed, settings, student_settings)
        silver = labelled_by(labeller / "model-best", rest, out.with_name(f"{out.name}_labelled_rest.spacy"))
        joined = out.with_name(f"{out.name}_train.spacy")
        if not joined.exists():
            from spacy_cot_distill.data.docbin import read_docs, write_docs

            write_docs(joined, read_docs(gold) + read_docs(silver))
        train_docs = joined
    if spec.taught_by is not None:
        assert rest is not None
        taught_by, *_ = fit(spec.taught_by, paths, args, seed, settings, {})
        model = taught_by / "model-best"
        train_docs = taught_with(model, gold, out.with_name(f"{out.name}_taught_gold.spacy"))
        extra = {"paths.unlabelled": str(taught_with(model, rest, out.with_name(f"{out.name}_taught_rest.spacy")))}
    training = train(name, paths, args.encoder, args.steps, args.batch_words, seed, out, args.gpu_id,
                     args.eval_every, {**study, **extra, **settings, **student_settings}, train_docs)
    return out, training, teacher, study


def with_silver(docs_path: Path, train: Path) -> Path:
    """The docs of `docs_path` with silver entities from the entity lists of their ChatGPT answers, over the labels
    of the gold train docs (data.entity_lists: every mention of a listed name; types mapped as fixed on train)."""
    from spacy_cot_distill.data.docbin import read_docs
    from spacy_cot_distill.data.entity_lists import silver_docbin_from_lists

    out = docs_path.with_name(f"{docs_path.stem}_silver.spacy")
    if not out.exists():
        labels = sorted({ent.label_ for doc in read_docs(train) for ent in doc.ents})
        summary = silver_docbin_from_lists(docs_path, out, KNOWLEDGE_SOURCES["chatgpt"][1], labels)
        summary.print()
    return out


def unlabelled_other(dataset: str, args: argparse.Namespace) -> Path:
    """The other Twitter dataset's train, converted with its knowledge and its entities hidden."""
    from spacy_cot_distill.data.docbin import read_docs, write_docs

    out = args.work / f"{dataset}_train_gpt_unlabelled.spacy"
    if not out.exists():
        source = make_data(dataset, args.data, args.work)["train", "gpt"]
        write_docs(out, [hide_entities(doc) for doc in read_docs(source)])
    return out


def evaluate(model: Path, valid: Path, use_knowledge: bool = False, config: Optional[Dict[str, Any]] = None) -> dict:
    """P/R/F of a trained pipeline on gold-tokenized valid docs (their knowledge kept for row e); `config`: spacy.load's overrides."""
    nlp = spacy.load(model, config=config or {})
    if use_knowledge:
        nlp.get_pipe("cot_ner").cfg["use_knowledge_at_inference"] = True
    examples = gold_examples(nlp, valid, with_knowledge=True)
    start = time.time()
    preds = list(nlp.pipe(eg.predicted for eg in examples))
    seconds = time.time() - start
    scores = get_ner_prf([Example(p, eg.reference) for p, eg in zip(preds, examples)])
    return {"p": scores["ents_p"], "r": scores["ents_r"], "f": scores["ents_f"],
            "per_type": scores["ents_per_type"], "predict_seconds": seconds}


def add_budget_arguments(parser: argparse.ArgumentParser, rows: str = "a,b,c,e,d",
                         results: Optional[Path] = ROOT / "benchmarks" / "results" / "ner.jsonl") -> None:
    """The data, encoder, budget, seed and results options shared by the NER benchmarks."""
    parser.add_argument("dataset", choices=sorted(YEAR))
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    add_run_arguments(parser, rows=rows, steps=400, batch_words=1000, eval_every=50, results=results,
                      work=Path("/tmp/cot_ner_bench"))
    parser.add_argument("--gold-fraction", type=float, default=1.0,
                        help="train on this share of train's docs, drawn with the seed (the label-efficiency study; "
                             "part of the run's key)")


def prepare(args: argparse.Namespace) -> dict:
    """Resolve the encoder (args.encoder_name: the name recorded), convert the data; returns make_data's paths."""
    args.encoder_name, args.encoder = resolve_encoder(args.encoder, args.encoder_name)
    args.work.mkdir(parents=True, exist_ok=True)
    return make_data(args.dataset, args.data, args.work)


def run_row(key: Dict[str, Any], paths: dict, args: argparse.Namespace) -> Dict[str, Any]:
    """Train (or read back) and score the run of `key`: its record's fields."""
    row = key["row"]
    _, trained, use_knowledge = ROWS[row]
    spec = TRAININGS[trained]
    out, training, teacher, study = fit(trained, paths, args, key["seed"], key["settings"], key["student_settings"])
    fields: Dict[str, Any] = {"study_settings": study} if study else {}
    if spec.unlabelled or spec.labeller:
        fields.update({"unlabelled": spec.unlabelled, "labelled_by": spec.labeller})
    if spec.taught_by:
        fields["taught_by"] = spec.taught_by
    return {
        **fields,
        **evaluate(out / "model-best", paths["valid", "gpt"], use_knowledge=use_knowledge),
        # the train docs whose gold tags the row learns from (the label-efficiency plot's x)
        "gold_docs": round(key["gold_fraction"] * count_docs(paths["train", spec.knowledge])),
        "eval_every": args.eval_every,
        # a row that scores another row's model ((e): (c)'s) has no curve of its own
        **trained_fields(training, ("ents_f", "ents_p", "ents_r"), trained, own_curve=trained == row),
        # a two-stage student's teacher and its one-off cost, apart from the student's own seconds
        **({"teacher": teacher} if teacher else {}),
    }


def cells(record: Dict[str, Any]) -> str:
    """A recorded run's scores and seconds, as cells of the progress table."""
    return (f"P {100 * record['p']:.1f} | R {100 * record['r']:.1f} | F {100 * record['f']:.1f} "
            f"| train {record['train_seconds']:.0f} s | {record['step_seconds'] or 0:.2f} s/step")


@lru_cache(maxsize=None)
def count_docs(path: Path) -> int:
    """The number of docs in the DocBin `path`."""
    from spacy_cot_distill.data.docbin import read_docs

    return len(read_docs(path))

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_budget_arguments(parser)
    parser.add_argument("--student-set", dest="student_settings", action="append", default=[], metavar="PATH=VALUE",
                        help="a config override of a two-stage student, not of its teacher (e.g. the temperature or "
                             "alpha: one teacher, taught once, serves them all); part of the run's key (repeatable)")
    args = parser.parse_args()
    settings = parse_settings(args.settings)
    student_settings = parse_settings(args.student_settings)
    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; the rows are {', '.join(ROWS)}")
    if student_settings:
        alone = [row for row in rows if TRAININGS[ROWS[row][1]].teacher is None]
        if alone:
            parser.error(f"--student-set sets a two-stage student apart from its teacher; rows {alone} have no "
                         "teacher of their own: give them --set")
    no_gold = [row for row in rows if TRAININGS[ROWS[row][1]].silver and not TRAININGS[ROWS[row][1]].unlabelled]
    if no_gold and (args.gold_fraction != 0 or len(no_gold) < len(rows)):
        parser.error(f"rows {no_gold} train on no gold at all: run them alone, with --gold-fraction 0")
    if not 0 < args.gold_fraction <= 1 and not no_gold:
        parser.error(f"--gold-fraction must be within (0, 1], not {args.gold_fraction}")
    two_stage = [row for row in rows if TRAININGS[ROWS[row][1]].teacher is not None]
    if args.gold_fraction < 1 and two_stage:
        parser.error(f"rows {two_stage} teach all of train: run them with every doc labelled (--gold-fraction 1)")
    with_rest = [row for row in rows if TRAININGS[ROWS[row][1]].unlabelled == "rest" or TRAININGS[ROWS[row][1]].labeller]
    if args.gold_fraction == 1 and with_rest:
        parser.error(f"rows {with_rest} use the rest of train, outside the gold subset: give a --gold-fraction below 1")
    for row in rows:
        spec = TRAININGS[ROWS[row][1]]
        check_overrides(ROOT / "configs" / spec.config, {**spec.overrides, **settings, **student_settings}, row)
        if spec.teacher is not None:
            teacher = TRAININGS[spec.teacher]
            check_overrides(ROOT / "configs" / teacher.config, {**teacher.overrides, **settings}, f"{row}'s teacher")
    paths = prepare(args)
    print(f"encoder {args.encoder_name}, {args.steps} steps of {args.batch_words} words, eval every "
          f"{args.eval_every}, settings {settings}, student settings {student_settings}, cpu count {os.cpu_count()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, results {args.results}", flush=True)
    keys = (
        {"benchmark": "ner", "dataset": args.dataset, "row": row, "seed": seed, "steps": args.steps,
         "batch_words": args.batch_words, "settings": settings, "student_settings": student_settings,
         "encoder": args.encoder_name, "gold_fraction": args.gold_fraction}
        for seed in (int(s) for s in args.seeds.split(",")) for row in rows
    )
    record_runs(ResultsFile(args.results), keys, partial(run_row, paths=paths, args=args), cells, args.gpu_id)


if __name__ == "__main__":
    main()
