"""The accuracy benchmarks' results files: one line per run, resumable, a torn line survived, summarised, plotted."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from benchmarks.results import (
    ResultsFile, compared_runs, label_efficiency, parse_settings, plot_curves, plot_final_f1, plot_label_efficiency,
    run_key, summarise,
)
from tiny_models import TRAIN, make_tiny_bert

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"a": "stock", "b": "student alone", "c": "distilled"}


def record(row="c", seed=0, f=0.8, settings=None, dataset="twitter2017", curve=None, steps=400, **extra):
    return {
        "benchmark": "ner", "dataset": dataset, "row": row, "seed": seed, "steps": steps, "batch_words": 1000,
        "settings": settings or {}, "encoder": "enc", "p": f, "r": f, "f": f,
        "per_type": {"PER": {"p": f, "r": f, "f": f}}, "train_seconds": 100.0, "step_seconds": 0.5,
        "curve": curve if curve is not None else [{"step": s, "p": f, "r": f, "f": f * s / 100} for s in (0, 50, 100)],
        **extra,
    }


def test_appends_one_line_per_run_and_knows_the_recorded_keys(tmp_path):
    results = ResultsFile(tmp_path / "sub" / "ner.jsonl")
    assert results.read() == [] and results.keys() == set()
    results.append(record(seed=0))
    results.append(record(seed=1, settings={"components.cot_ner.max_length": 128}))
    lines = results.path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["row"] == "c" for line in lines)
    assert results.keys() == {run_key(record(seed=0)), run_key(record(seed=1, settings={"components.cot_ner.max_length": 128}))}
    # settings are part of the key, in any order of their fields
    assert run_key(record(settings={"x": 1, "y": 2})) == run_key(record(settings={"y": 2, "x": 1}))
    assert run_key(record(seed=1)) not in results.keys()
    # a record written before student settings existed is a run without them
    assert run_key(record(student_settings={})) == run_key(record()) != run_key(record(student_settings={"x": 1}))


def test_a_torn_last_line_is_ignored_with_a_warning_and_cut_before_the_next_append(tmp_path):
    results = ResultsFile(tmp_path / "ner.jsonl")
    results.append(record(seed=0))
    results.append(record(seed=1))
    with open(results.path, "ab") as f:  # a line whose write never finished
        f.write(json.dumps(record(seed=2)).encode()[:40])
    with pytest.warns(UserWarning, match=r"ner.jsonl:3: ignoring a torn last line"):
        assert [r["seed"] for r in results.read()] == [0, 1]
    with pytest.warns(UserWarning, match="cutting off a torn last line"):
        results.append(record(seed=2))
    assert [r["seed"] for r in results.read()] == [0, 1, 2]
    assert results.path.read_bytes().endswith(b"\n")


def test_a_bad_line_before_the_last_names_the_file_and_line(tmp_path):
    path = tmp_path / "ner.jsonl"
    path.write_text(json.dumps(record(seed=0)) + "\n{oops\n" + json.dumps(record(seed=1)) + "\n")
    with pytest.raises(ValueError, match=r"ner.jsonl:2: not a JSON record"):
        ResultsFile(path).read()


def test_parse_settings_reads_json_values_and_keeps_strings():
    assert parse_settings(["components.cot_ner.max_length=128", "components.cot_ner.cot_dims=[\"noun\"]", "paths.x=/tmp/a"]) == {
        "components.cot_ner.max_length": 128, "components.cot_ner.cot_dims": ["noun"], "paths.x": "/tmp/a"}
    with pytest.raises(SystemExit, match="expected a config path and a value"):
        parse_settings(["max_length"])


def test_summary_mean_std_differences_and_plot(tmp_path):
    records = [record("c", s, f) for s, f in ((0, 0.80), (1, 0.82), (2, 0.84))]
    records += [record("b", s, f) for s, f in ((0, 0.78), (1, 0.80), (2, 0.79))]
    records += [record("a", 0, 0.75), record("a", 1, 0.77)]
    records += [record("c", 0, 0.9, settings={"components.cot_ner.max_length": 128})]
    text = summarise(records, LABELS, [("c", "b"), ("c", "a")], "per_type")
    # c: mean 82.0, sample std 2.0; b: 79.0 +- 1.0; a: 76.0 +- 1.4
    assert "| (c) distilled | 3 | 0,1,2 | 82.0 +- 2.0 | 82.0 +- 2.0 | 82.0 +- 2.0 | 0.50 | 100 |" in text
    # per class: P / R / F1 of each row, means over its seeds
    assert "| per_type (mean over seeds) | (a) P / R / F1 | (b) P / R / F1 | (c) P / R / F1 |" in text
    assert "| PER | 76.0 / 76.0 / 76.0 | 79.0 / 79.0 / 79.0 | 82.0 / 82.0 / 82.0 |" in text
    assert "| (b) student alone | 3 | 0,1,2 | 79.0 +- 1.0 |" in text
    assert "| (a) stock | 2 | 0,1 | 76.0 +- 1.4 |" in text
    assert "(c) - (b): **+3.0 F1** (means over 3 and 3 seeds; per common seed: +2.0, +2.0, +5.0)" in text
    assert "(c) - (a): **+6.0 F1** (means over 3 and 2 seeds; per common seed: +5.0, +5.0)" in text
    # a screen's group is compared with the rows run without settings
    assert 'settings {"components.cot_ner.max_length": 128}' in text
    assert "| (c) distilled | 1 | 0 | 90.0 +- 0.0 |" in text
    assert "(c) - (b): **+11.0 F1** (means over 1 and 3 seeds" in text
    # ... and each row with itself without the settings: 90 against (c)'s mean 82, +10 on the common seed 0
    assert "(c) - (c without these settings): **+8.0 F1** (means over 1 and 3 seeds; per common seed: +10.0)" in text
    assert "(b) - (b without these settings)" not in text  # no (b) run with the settings
    paths = plot_curves(records + [record("c", 0, 0.7, dataset="twitter2015")], LABELS, tmp_path / "ner_curve",
                        rows=["a", "b", "c"])
    assert sorted(p.name for p in paths) == ["ner_curve_twitter2015.png", "ner_curve_twitter2017.png"]
    bars = plot_final_f1(records + [record("c", 0, 0.7, dataset="twitter2015")], LABELS, tmp_path / "bars.png",
                         rows=["a", "b", "c"])
    for path in [*paths, bars]:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_the_plots_compare_rows_not_screens():
    """The plotted runs: the rows asked for, without the screens' settings, of each row the budget with the most
    seeds; at full gold a row may be given the settings the label-efficiency study fixed."""
    entity_list = {"components.cot_ner.answer_sections": ["Named entities"]}
    records = [record("a", s) for s in (0, 1, 2)] + [record("c", s) for s in (0, 1, 2)]
    records += [record("c", 0, settings={"components.cot_ner.max_length": 128})]  # a screen
    records += [record("c", s, settings=entity_list) for s in (0, 1)]
    records += [record("b", s, steps=60) for s in (0, 1, 2)] + [record("b", 0)]  # two budgets: 3 seeds win
    records += [record("d", 0)]  # not asked for
    records += [record("a", 0, gold_fraction=0.1), record("a", 0, gold_fraction=0.1, student_settings={"x": 1})]
    picked = compared_runs(records, ["a", "b", "c"])
    assert {k: sorted(r["seed"] for r in runs) for k, runs in picked.items()} == {
        ("twitter2017", 1.0, "a"): [0, 1, 2], ("twitter2017", 1.0, "b"): [0, 1, 2], ("twitter2017", 1.0, "c"): [0, 1, 2],
        ("twitter2017", 0.1, "a"): [0]}
    assert {r["steps"] for r in picked["twitter2017", 1.0, "b"]} == {60}
    assert all(r["settings"] == {} for runs in picked.values() for r in runs)
    study = compared_runs(records, ["a", "c"], {"c": entity_list})
    assert [r["settings"] for r in study["twitter2017", 1.0, "c"]] == [entity_list, entity_list]
    assert study["twitter2017", 0.1, "a"] == picked["twitter2017", 0.1, "a"]


def test_label_efficiency_points_and_plot(tmp_path):
    """F1 by gold docs per row: the recorded count, else the share of the dataset's train (older records); at full
    gold (c) is the run with the study's teacher; a row without gold is drawn as a level."""
    entity_list = {"components.cot_ner.answer_sections": ["Named entities"]}
    records = []
    for dataset, size in (("twitter2017", 3373), ("twitter2015", 4000)):
        for fraction in (0.05, 0.1, 0.25):
            gold = round(fraction * size)
            for seed in (0, 1, 2) if fraction == 0.1 else (0,):
                for row, f in (("a", 0.50), ("c", 0.55), ("u", 0.62), ("p", 0.58)):
                    records.append(record(row, seed, f + fraction / 2 + seed / 100, dataset=dataset,
                                          gold_fraction=fraction, gold_docs=gold))
        records += [record("a", s, 0.80 + s / 100, dataset=dataset) for s in (0, 1, 2)]  # no gold_docs: older
        records += [record("c", s, 0.81, dataset=dataset, settings=entity_list) for s in (0, 1, 2)]
    records += [record("c", 0, 0.99), record("a", 0, 0.99, settings={"components.cot_ner.max_length": 128})]
    records += [record("s0", s, 0.60 + s / 100, gold_fraction=0.0, gold_docs=0) for s in (0, 1)]
    records += [record("x", 0, 0.84, gold_docs=3373)]
    rows = ["a", "c", "u", "p", "s0", "x"]
    points = label_efficiency(records, rows, {"c": entity_list}, {"twitter2017": 3373, "twitter2015": 4000})
    t17 = points["twitter2017"]
    assert sorted(t17["a"]) == [169, 337, 843, 3373] and sorted(t17["c"]) == [169, 337, 843, 3373]
    assert t17["a"][3373] == pytest.approx([80.0, 81.0, 82.0]) and t17["c"][3373] == pytest.approx([81.0] * 3)
    assert t17["u"][337] == pytest.approx([67.0, 68.0, 69.0]) and sorted(t17["u"]) == [169, 337, 843]
    assert t17["s0"] == {0: pytest.approx([60.0, 61.0])} and t17["x"] == {3373: pytest.approx([84.0])}
    assert sorted(points["twitter2015"]["p"]) == [200, 400, 1000] and "s0" not in points["twitter2015"]
    labels = {**LABELS, "u": "(c) + the rest unlabelled", "p": "self-trained", "s0": "silver only", "x": "other"}
    paths = plot_label_efficiency(records, labels, tmp_path / "ner_label_efficiency", rows, {"c": entity_list},
                                  {"twitter2017": 3373, "twitter2015": 4000})
    assert [p.name for p in paths] == ["ner_label_efficiency_twitter2015.png", "ner_label_efficiency_twitter2017.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    with pytest.raises(ValueError, match="twitter2015 \\(a\\): a record without gold_docs, and the train size"):
        label_efficiency(records, rows, {}, {"twitter2017": 3373})


def test_summary_writes_the_plots(tmp_path):
    """`python -m benchmarks.summary ner`: the table, the curves (of the full-gold rows and of a study fraction),
    the bar chart and the label-efficiency plots."""
    records = [record(row, s, 0.8) for row in ("a", "b", "c") for s in (0, 1)]
    records += [record(row, 0, 0.6, gold_fraction=0.1, gold_docs=337) for row in ("a", "c", "u", "p")]
    results = tmp_path / "ner.jsonl"
    for r in records:
        ResultsFile(results).append(r)
    run = subprocess.run([sys.executable, "-m", "benchmarks.summary", "ner", "--results", str(results), "--plots",
                          str(tmp_path)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| (c) cot_ner distilled, ChatGPT knowledge | 2 | 0,1 |" in run.stdout
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "ner_curve_twitter2017.png", "ner_curve_twitter2017_gold0.1.png", "ner_final_f1.png",
        "ner_label_efficiency_twitter2017.png"]


def write_twitter_data(data: Path) -> None:
    """A tiny Twitter-2017 layout (train and valid: TRAIN's sentences) with captions and both knowledge files."""
    caption_lines = []
    for split in ("train", "valid"):
        blocks, gpt, qwen = [], [], []
        for i, (text, spans) in enumerate(TRAIN):
            imgid = f"{split}{i}"
            words, tags, offset = text.split(), [], 0
            for word in words:
                start = text.index(word, offset)
                offset = start + len(word)
                tag = "O"
                for s, e, label in spans:
                    if s <= start < e:
                        tag = ("B-" if start == s else "I-") + label
                tags.append(tag)
            blocks.append(f"IMGID:{imgid}\n" + "".join(f"{w}\t{t}\n" for w, t in zip(words, tags)))
            gpt.append(json.dumps({"imgid": imgid, "tokens": words, "knowledge": "john smith and mary are people"}))
            qwen.append(json.dumps({"imgid": imgid, "tokens": words, "cot": {"noun": "london is a city", "sentence": "a visit"}}))
            caption_lines.append(f"{imgid}.jpg :a photo of a city")
        (data / "twitter2017").mkdir(parents=True, exist_ok=True)
        (data / "twitter2017" / f"{split}.txt").write_text("\n".join(blocks) + "\n")
        for folder, lines in (("chatgpt-pgim", gpt), ("qwen2.5-coder-1.5b", qwen)):
            (data / "knowledge" / folder).mkdir(parents=True, exist_ok=True)
            (data / "knowledge" / folder / f"twitter2017_{split}.jsonl").write_text("\n".join(lines) + "\n")
    (data / "captions").mkdir(exist_ok=True)
    (data / "captions" / "BLIP2_17_train_valid.txt").write_text("\n".join(caption_lines) + "\n")


def test_ner_accuracy_end_to_end_records_each_run_once(tmp_path):
    """A real `spacy train` of row (c) for 3 steps with a tiny BERT; (e) reuses its model; a re-run trains nothing."""
    write_twitter_data(tmp_path / "data")
    encoder = make_tiny_bert(tmp_path / "bert")
    results = tmp_path / "ner.jsonl"
    cmd = [sys.executable, "-m", "benchmarks.ner_accuracy", "twitter2017", "--data", str(tmp_path / "data"),
           "--encoder", str(encoder), "--rows", "c,e", "--steps", "3", "--batch-words", "40", "--eval-every", "2",
           "--set", "training.optimizer.learn_rate.initial_rate=0.001",
           "--work", str(tmp_path / "work"), "--results", str(results)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    records = ResultsFile(results).read()
    assert [r["row"] for r in records] == ["c", "e"]
    for r in records:
        assert r["settings"] == {"training.optimizer.learn_rate.initial_rate": 0.001}
        assert r["encoder"] == str(encoder) and r["steps"] == 3 and r["batch_words"] == 40
        assert 0.0 <= r["f"] <= 1.0 and set(r["per_type"]) <= {"PER", "LOC", "ORG"}
        assert len(r["commit"]) == 40 and isinstance(r["dirty"], bool) and r["machine"]["omp_num_threads"] == "1"
        assert r["train_seconds"] > 0 and r["step_seconds"] > 0 and len(r["load_average"]) == 3
    # evaluations at steps 0 and 2 (steps 1 and 3 are timed); the (e) row has no curve and reuses (c)'s model
    assert [p["step"] for p in records[0]["curve"]] == [0, 2] and records[1]["curve"] == []
    assert records[1]["model"] == records[0]["model"] and records[1]["trained_as"] == "c"
    # the result is model-best's: the best F1 of the curve (the same gold-tokenized valid docs)
    assert records[0]["f"] == pytest.approx(max(p["f"] for p in records[0]["curve"]), abs=1e-6)
    again = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("recorded, skipped") == 2 and "spacy train" not in again.stdout
    assert len(ResultsFile(results).read()) == 2


def test_ner_accuracy_two_stage_rows_train_and_teach_once(tmp_path):
    """Rows (t) and (f) over two seeds: one teacher (seed 0, the (t) run itself) and one `teach` serve both students;
    the students' records carry the teacher's one-off cost; a re-run trains nothing."""
    from benchmarks.ner_accuracy import DIFFERENCES, ROWS

    write_twitter_data(tmp_path / "data")
    encoder = make_tiny_bert(tmp_path / "bert")
    results = tmp_path / "ner.jsonl"
    cmd = [sys.executable, "-m", "benchmarks.ner_accuracy", "twitter2017", "--data", str(tmp_path / "data"),
           "--encoder", str(encoder), "--rows", "t,f", "--seeds", "0,1", "--steps", "3", "--batch-words", "40",
           "--eval-every", "2", "--work", str(tmp_path / "work"), "--results", str(results)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("spacy train") == 4  # (t) seeds 0 and 1, (f) seeds 0 and 1: the teacher is (t)'s seed 0
    records = ResultsFile(results).read()
    assert [(r["row"], r["seed"]) for r in records] == [("t", 0), ("f", 0), ("t", 1), ("f", 1)]
    teacher_s0, students = records[0], [r for r in records if r["row"] == "f"]
    assert [p["step"] for p in teacher_s0["curve"]] == [0, 2] and all("teacher" not in r for r in records[::2])
    for student in students:
        teacher = student["teacher"]
        assert teacher["models"] == [teacher_s0["model"]] and (teacher["trained_as"], teacher["seed"]) == ("t", 0)
        assert teacher["train_seconds"] > 0 and teacher["teach_seconds"] >= 0 and teacher["taught_docs"] > 0
        assert student["model"] not in teacher["models"] and student["curve"] and 0.0 <= student["f"] <= 1.0
    assert students[0]["teacher"] == students[1]["teacher"]
    taught = list((tmp_path / "work").glob("*_taught_*.spacy"))
    assert len(taught) == 1 and len(list((tmp_path / "work").glob("*_taught_*.json"))) == 1
    summary = summarise(records, {row: spec[0] for row, spec in ROWS.items()}, DIFFERENCES, "per_type")
    assert summary.count("(f)'s teacher (row (t), seed 0), paid once: trained in") == 1
    again = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("recorded, skipped") == 4 and "spacy train" not in again.stdout
    # a student setting trains a student of the same teacher, taught once
    hotter = cmd[: cmd.index("--rows")] + ["--rows", "f", "--seeds", "0", "--student-set",
                                           "components.cot_ner.temperature=2"] + cmd[cmd.index("--steps"):]
    screen = subprocess.run(hotter, capture_output=True, text=True, env=env)
    assert screen.returncode == 0, screen.stderr[-3000:]
    assert screen.stdout.count("spacy train") == 1 and "temperature 2" in screen.stdout  # the teacher is read back
    record = ResultsFile(results).read()[-1]
    assert (record["row"], record["settings"], record["student_settings"]) == ("f", {}, {"components.cot_ner.temperature": 2})
    assert record["teacher"] == students[0]["teacher"] and record["model"] != students[0]["model"]
    assert list((tmp_path / "work").glob("*_taught_*.spacy")) == taught
    refused = subprocess.run(hotter[:hotter.index("--rows") + 1] + ["a,f"] + hotter[hotter.index("--rows") + 2:],
                             capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "rows ['a'] have no teacher of their own: give them --set" in refused.stderr


def test_ner_accuracy_cross_fitted_teachers_teach_the_docs_they_did_not_train_on(tmp_path):
    """Row (g): two (t) teachers, each trained on one half of train for half the steps, each teaching the other half."""
    import spacy

    import spacy_cot_distill  # noqa: F401
    from spacy_cot_distill.data.docbin import read_docs
    from spacy_cot_distill.data.teacher import read_distribution
    from spacy_cot_distill.teach import find_teacher

    write_twitter_data(tmp_path / "data")
    encoder = make_tiny_bert(tmp_path / "bert")
    work, results = tmp_path / "work", tmp_path / "ner.jsonl"
    cmd = [sys.executable, "-m", "benchmarks.ner_accuracy", "twitter2017", "--data", str(tmp_path / "data"),
           "--encoder", str(encoder), "--rows", "g", "--steps", "4", "--batch-words", "40", "--eval-every", "2",
           "--work", str(work), "--results", str(results)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("spacy train") == 3 and run.stdout.count("--training.max_steps 2 ") == 2
    (record,) = ResultsFile(results).read()
    teacher = record["teacher"]
    assert (teacher["folds"], teacher["trained_as"], len(set(teacher["models"]))) == (2, "t", 2)
    assert teacher["taught_docs"] == len(TRAIN) and teacher["train_seconds"] > 0
    train = read_docs(work / "twitter2017_train_gpt.spacy")
    taught = read_docs(next(work.glob("twitter2017_t_2x40_e2_s0_2folds_*_taught_twitter2017_train_gpt.spacy")))
    assert [d.text for d in taught] == [d.text for d in train]
    for k, model in enumerate(teacher["models"]):
        without = read_docs(work / f"twitter2017_train_gpt_without_fold{k}of2.spacy")
        assert [d.text for d in without] == [d.text for i, d in enumerate(train) if i % 2 != k]
        pipe = find_teacher(spacy.load(model))
        for doc in taught[k::2]:  # taught by the teacher that did not train on it
            stored = read_distribution(doc)
            assert stored is not None
            assert numpy.allclose(stored.log_probs, pipe.teacher_log_probs([doc])[0], atol=1e-5)


def test_ner_accuracy_label_efficiency_rows_record_their_gold_share(tmp_path):
    """Rows (a), (u), (p) and (v) on half of train: the gold subset and the rest (entities hidden) written once,
    each record keyed by its gold fraction with its gold docs and the study's own settings; (p)'s labeller and
    (v)'s teacher are (c), trained once."""
    from benchmarks.ner_accuracy import STUDY_MIX, STUDY_TEACHER
    from spacy_cot_distill.data.docbin import read_docs

    write_twitter_data(tmp_path / "data")
    encoder = make_tiny_bert(tmp_path / "bert")
    work, results = tmp_path / "work", tmp_path / "ner.jsonl"
    cmd = [sys.executable, "-m", "benchmarks.ner_accuracy", "twitter2017", "--data", str(tmp_path / "data"),
           "--encoder", str(encoder), "--rows", "a,u,p,v", "--gold-fraction", "0.5", "--steps", "2", "--batch-words",
           "40", "--eval-every", "2", "--work", str(work), "--results", str(results)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("spacy train") == 5  # (a), (u), (p)'s labeller (c), (p) and (v)
    records = ResultsFile(results).read()
    assert [(r["row"], r["gold_fraction"], r["gold_docs"]) for r in records] == [("a", 0.5, 2), ("u", 0.5, 2),
                                                                                ("p", 0.5, 2), ("v", 0.5, 2)]
    a, u, p, v = records
    assert "study_settings" not in a and "unlabelled" not in a
    assert u["study_settings"] == {**STUDY_TEACHER, **STUDY_MIX}
    assert (u["unlabelled"], u["labelled_by"], p["unlabelled"], p["labelled_by"]) == ("rest", None, None, "c")
    assert (v["unlabelled"], v["taught_by"], v["study_settings"]) == ("rest", "c", {**STUDY_TEACHER, **STUDY_MIX})
    # (v)'s student reads (c)'s teacher distributions on the gold docs and on the rest, whose gold stays hidden
    taught = {part: read_docs(next(work.glob(f"twitter2017_v_*_taught_{part}.spacy"))) for part in ("gold", "rest")}
    assert [len(docs) for docs in taught.values()] == [2, 2]
    assert all(doc._.teacher_log_probs is not None for docs in taught.values() for doc in docs)
    assert all(t.ent_iob == 0 for doc in taught["rest"] for t in doc)
    gold = read_docs(work / "twitter2017_train_gpt_gold0.5_s0.spacy")
    rest = read_docs(work / "twitter2017_train_gpt_rest0.5_s0.spacy")
    assert len(gold) == len(rest) == 2 and all(t.ent_iob == 0 for doc in rest for t in doc)
    again = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("recorded, skipped: twitter2017") == 4 and "gold 0.5" in again.stdout
    assert "spacy train" not in again.stdout
    refused = subprocess.run(cmd[: cmd.index("--gold-fraction")] + cmd[cmd.index("--steps"):], capture_output=True,
                             text=True, env=env)
    assert refused.returncode == 2 and "use the rest of train, outside the gold subset" in refused.stderr
