"""Peak memory of `cot-distill generate --dry-run` over a large DocBin of synthetic tweets (issue 15 item 6).

Builds a DocBin of `--docs` synthetic tweets (tokens, entities, doc id, image id, caption; every text unique)
in `--work` once (in a process of its own), runs `python -m spacy_cot_distill generate IN OUT --dry-run` on it
in a subprocess and reports that subprocess's peak resident memory (its `ru_maxrss`, from `os.wait4`). The
package that runs is the one Python imports in the subprocess: point PYTHONPATH at a checkout to measure it.
No request is sent (a dry run), so no server is needed; the cache is a fresh, empty file each time.

    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.generate_memory [--docs 200000] [--work /tmp/generate_memory] [--record]

`--record` appends the figure as a row to the table of this benchmark in benchmarks/RESULTS.md.
"""
import argparse
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Tuple

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "## Peak memory of `generate --dry-run` on synthetic tweets (`benchmarks/generate_memory.py`, issue 15 item 6)"
TABLE = ("| date | commit | code | docs | peak RSS MB | machine | load average | command |\n"
         "|---|---|---|---|---|---|---|---|")
DIMS = "noun,sentence,multimodal"

PEOPLE = ["Ada Brightwater", "Ravi Okonkwo", "Mila Stroud", "Tobias Fenn", "Yara Delacroix", "Kofi Adjei"]
ORGS = ["Eastgate Rovers", "Tinfoil Labs", "Copperline Transit", "Kestrel Records", "Marigold Bank"]
PLACES = ["Port Avalon", "Lakemoor", "Brindle Bay", "Harrowgate", "Silverton", "Elmsworth"]
CAPTIONS = ["a man in a suit speaking at a podium", "a crowd of people at a concert at night",
            "two football players on a field", "a woman holding a trophy on a stage"]
# PER/ORG/LOC slots are entities; every tweet ends in a link of its own, so no two texts are equal
TEMPLATES = ["RT @morningwire : PER joins ORG ahead of the new season", "PER and PER spotted in LOC last night 😍",
             "ORG opens its first store in LOC # retail", "Storm warning for LOC tonight , stay safe PER",
             "lol my dog just stole my sandwich", "PER : \" Proud to play for ORG \""]
POOLS = {"PER": PEOPLE, "ORG": ORGS, "LOC": PLACES}


def build_docbin(path: Path, n: int) -> None:
    """Write `n` synthetic tweets to `path` as the converters do (doc.ents, doc_id, image_id, caption)."""
    from spacy.tokens import Doc, DocBin, Span
    from spacy.vocab import Vocab

    import spacy_cot_distill  # noqa: F401  (registers the doc extensions)
    from spacy_cot_distill.files import write_file

    rng = random.Random(0)
    vocab = Vocab()
    docbin = DocBin(store_user_data=True)
    for i in range(n):
        words, ents = [], []
        for slot in rng.choice(TEMPLATES).split():
            if slot in POOLS:
                name = rng.choice(POOLS[slot]).split()
                ents.append((len(words), len(words) + len(name), slot))
                words += name
            else:
                words.append(slot)
        words.append(f"http://t.co/{i:08x}")
        doc = Doc(vocab, words=words)
        doc.ents = [Span(doc, start, end, label) for start, end, label in ents]
        doc._.doc_id = f"17_{i:07d}"
        doc._.image_id = f"17_{i:07d}.jpg"
        doc._.caption = rng.choice(CAPTIONS)
        docbin.add(doc)
    write_file(path, docbin.to_bytes())


def peak_rss_mb(command, env, cwd: Path) -> float:
    """Run `command` and return its own peak resident memory in MB (ru_maxrss of that child: kB on Linux).

    This process must be small when it starts the command: exec records the peak of the memory the child
    starts with, which is this process's (the child shares it until exec). So the DocBin is built in a
    process of its own, and this one imports nothing large.
    """
    proc = subprocess.Popen(command, env=env, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"the measured command failed (exit {proc.returncode})")
    return usage.ru_maxrss / 1024


def record(row: str) -> None:
    """Add `row` at the end of this benchmark's table in RESULTS.md (the section is made on the first run)."""
    from spacy_cot_distill.files import write_file

    text = RESULTS.read_text(encoding="utf-8")
    if HEADING not in text:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{TABLE}\n"
    start = text.index(HEADING)
    lines = text[start:].split("\n")
    end = next(i for i, line in enumerate(lines) if line.startswith("|"))
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines.insert(end, row)
    write_file(RESULTS, text[:start] + "\n".join(lines))


def measured_checkout(env, cwd: Path) -> Tuple[str, Path]:
    """The commit (+dirty: tracked files changed, RESULTS.md aside) and folder of the package the run imported."""
    probe = [sys.executable, "-c", "import spacy_cot_distill; print(spacy_cot_distill.__file__)"]
    checkout = Path(subprocess.run(probe, env=env, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()).parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=checkout, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/RESULTS.md")
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else ""), checkout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200_000, help="synthetic tweets in the DocBin")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "generate_memory",
                        help="folder of the DocBin (built once per doc count) and the run's cache")
    parser.add_argument("--record", action="store_true", help="append the figure to benchmarks/RESULTS.md")
    parser.add_argument("--note", default="", help="a note for the recorded row (e.g. before/after)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # build this DocBin and stop (the child)
    args = parser.parse_args()
    if args.build:
        build_docbin(args.build, args.docs)
        return
    docbin = args.work / f"tweets_{args.docs}.spacy"
    if not docbin.exists():
        print(f"building {docbin} ...", flush=True)
        subprocess.run([sys.executable, "-m", "benchmarks.generate_memory", "--docs", str(args.docs), "--build",
                        str(docbin)], cwd=ROOT, check=True)
    cache = args.work / "cache.sqlite"
    for stale in args.work.glob("cache.sqlite*"):
        stale.unlink()
    command = [sys.executable, "-m", "spacy_cot_distill", "generate", str(docbin), str(args.work / "out.spacy"),
               "--dims", DIMS, "--model", "gpt-4o-mini", "--cache", str(cache), "--dry-run"]
    env = {**os.environ, "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "sk-benchmark")}
    # run in the work folder: `python -m` puts the current folder first on sys.path, before PYTHONPATH
    peak = peak_rss_mb(command, env, cwd=args.work)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    commit, checkout = measured_checkout(env, args.work)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"{args.docs} docs ({docbin.stat().st_size / 1e6:.1f} MB DocBin), dims {DIMS}: "
          f"peak RSS {peak:.0f} MB (package from {checkout}, commit {commit}; {machine}; load {load})")
    if args.record:
        invocation = f"PYTHONPATH={os.environ.get('PYTHONPATH', '')} python -m benchmarks.generate_memory {shlex.join(sys.argv[1:])}"
        record(f"| {time.strftime('%Y-%m-%d')} | {commit} | {args.note} | {args.docs} | {peak:.0f} | {machine} "
               f"| {load} | `{invocation}` |")


if __name__ == "__main__":
    main()
