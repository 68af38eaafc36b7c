"""Issue 15: `cot-distill annotate` on N Twitter tweets: single process, --n-process 2, --ray with 1 and 2 workers.

Each row is a fresh `python -m spacy_cot_distill annotate` process (so model loading, spaCy's process start
and the local Ray instance's start are in the wall time), fed the first N tweets of a UMT-format file as
JSONL (`{"id": IMGID, "text": tokens joined by spaces}`, written to --work). Figures per row:
  wall s      the command's wall time, start to exit
  docs/s      N / wall s
  peak RSS    the largest sum of RSS over the command's process tree (sampled every 0.1 s; shared pages
              counted once per process, so an upper bound for several processes)
  = single    whether the row's output is byte-identical to the single-process output
Threads: the single-process row runs torch on --threads threads (default: all cores); the --n-process 2
and Ray rows give each process one thread per core it owns (OMP_NUM_THREADS=1 for 2 workers on 2 cores).

  python -m benchmarks.annotate_throughput MODEL [--docs 4000] [--data ../shared/data/twitter2015/train.txt] [--record]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

from spacy_cot_distill.files import write_file

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def tweets_as_jsonl(source: Path, n: int, out: Path) -> int:
    """Write the first `n` tweets of a UMT-format file (IMGID line, token<TAB>tag lines) as {"id", "text"} lines."""
    written, doc_id, tokens = 0, None, []
    with source.open(encoding="utf-8") as lines, out.open("w", encoding="utf-8") as sink:
        for line in list(lines) + [""]:
            line = line.rstrip("\n")
            if line.startswith("IMGID:"):
                doc_id = line[len("IMGID:"):]
            elif line.strip():
                tokens.append(line.split("\t")[0])
            elif tokens:
                sink.write(json.dumps({"id": doc_id, "text": " ".join(tokens)}, ensure_ascii=False) + "\n")
                written, tokens = written + 1, []
                if written == n:
                    break
    return written


def tree_rss(root: int) -> int:
    """Summed RSS in bytes of `root` and its descendants, from /proc (Linux)."""
    parents, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid ... rss is 24th
                parents[int(entry.name)] = int(fields[1])
                rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, IndexError):
                continue  # exited while we read it
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(rss.get(pid, 0) for pid in tree)


def run_measured(command: List[str], env: Dict[str, str]) -> Tuple[float, float]:
    """Run `command`; return (wall s, peak summed RSS of its process tree in MB)."""
    start = time.perf_counter()
    log = tempfile.TemporaryFile()  # not a pipe: a full one would stall the child
    child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    peak = 0
    while child.poll() is None:
        peak = max(peak, tree_rss(child.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - start
    log.seek(0)
    output = log.read().decode(errors="replace")
    log.close()
    if child.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({child.returncode}):\n{output[-3000:]}")
    return wall, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="A trained pipeline (directory or package name)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "twitter2015" / "train.txt")
    parser.add_argument("--docs", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of the single process")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0, help="Ray CPUs each actor reserves")
    parser.add_argument("--rows", default="single,n_process,ray1,ray")
    parser.add_argument("--work", type=Path, default=Path("/tmp/annotate_bench"))
    parser.add_argument("--record", action="store_true", help="Append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    source = args.work / "input.jsonl"
    n = tweets_as_jsonl(args.data, args.docs, source)
    base = [sys.executable, "-m", "spacy_cot_distill", "annotate", args.model, str(source)]
    common = ["--batch-size", str(args.batch_size), "--no-progress"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    rows = {
        "single": (["--n-process", "1"], str(args.threads)),
        "n_process": (["--n-process", "2"], "1"),
        "ray1": (["--ray", "--workers", "1", "--cpus-per-worker", str(args.cpus_per_worker)], "1"),
        "ray": (["--ray", "--workers", "2", "--cpus-per-worker", str(args.cpus_per_worker)], "1"),
    }
    labels = {"single": "single process", "n_process": "--n-process 2", "ray1": "--ray, 1 worker (local)",
              "ray": "--ray, 2 workers (local)"}
    table = []
    docs_per_second = {}
    load_before = os.getloadavg()[0]
    for name in args.rows.split(","):
        extra, threads = rows[name]
        out = args.work / f"{name}.jsonl"
        wall, peak = run_measured(base + [str(out)] + common + extra, {**env, "OMP_NUM_THREADS": threads})
        same = "yes" if (args.work / "single.jsonl").exists() and out.read_bytes() == (
            args.work / "single.jsonl").read_bytes() else "no"
        docs_per_second[name] = n / wall
        table.append((labels[name], threads, f"{wall:.1f}", f"{n / wall:.1f}", f"{peak:.0f}", same))
        print(f"{labels[name]}: {wall:.1f} s, {n / wall:.1f} docs/s, peak tree RSS {peak:.0f} MB", flush=True)
    header = ("mode", "torch threads/process", "wall s", "docs/s", "peak tree RSS MB", "= single")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    if "ray1" in docs_per_second and "ray" in docs_per_second:
        lines.append(f"\nRay scaling, 2 workers against 1: {docs_per_second['ray'] / docs_per_second['ray1']:.2f}x")
    load = f"load average (1 min) {load_before:.2f} before the first row, {os.getloadavg()[0]:.2f} after the last"
    print(f"\nannotate on {n} tweets of {args.data.name}, model {args.model}, batch {args.batch_size}, "
          f"{os.cpu_count()} cores, {load}\n")
    print("\n".join(lines))
    if args.record:
        write_file(RESULTS, RESULTS.read_text(encoding="utf-8").rstrip("\n") + "\n\n"
                   f"## annotate throughput (issue 15): {n} tweets of {args.data.name}, model {args.model}\n\n"
                   f"Command: `python -m benchmarks.annotate_throughput {' '.join(sys.argv[1:])}`; "
                   f"{os.cpu_count()} cores, {load}.\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
