"""A training logger for the benchmarks: spaCy's console table, plus one JSON line per evaluation.

`spacy train --code benchmarks/train_logger.py` registers it; the benchmarks set
`[training.logger]` to it. Each line holds the step, epoch, all the dev scores,
the losses, the seconds since training began and the mean seconds so far of an
update on the steps without an evaluation (the cost of a step, evaluations and
checkpoints left out); a last line `{"final": true, ...}` gives those two for the
whole training. Each line is flushed as it is written.
"""
import json
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Tuple

from spacy.training.loggers import console_logger_v3
from spacy.util import registry


@registry.loggers("cot_bench.JsonlLogger.v1")
def jsonl_logger(path: str, progress_bar: bool = False) -> Callable:
    """Log each evaluation to the JSONL file `path` (overwritten) and the console table.

    path (str): the file of one JSON object per evaluation.
    progress_bar (bool): show spaCy's progress bar to the next evaluation.
    """
    console = console_logger_v3(progress_bar="eval" if progress_bar else None)

    def setup(nlp: Any, stdout: IO = sys.stdout, stderr: IO = sys.stderr) -> Tuple[Callable, Callable]:
        log_console, finalize_console = console(nlp, stdout, stderr)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(path, "w", encoding="utf8")
        start = last = time.perf_counter()
        update_seconds: List[float] = []

        def write(line: Dict[str, Any]) -> None:
            line.update({
                "seconds": time.perf_counter() - start,
                "step_seconds": sum(update_seconds) / len(update_seconds) if update_seconds else None,
                "timed_steps": len(update_seconds),
            })
            # losses and some scores are numpy scalars
            stream.write(json.dumps(line, default=lambda value: value.item()) + "\n")
            stream.flush()

        def log_step(info: Optional[Dict[str, Any]]) -> None:
            nonlocal last
            now = time.perf_counter()
            if info is None:  # a step with no evaluation: its time is one batch and one update
                update_seconds.append(now - last)
            else:
                write({"step": info["step"], "epoch": info["epoch"], "score": info["score"],
                       "scores": info["other_scores"], "losses": info["losses"], "words": info["words"]})
            log_console(info)
            last = time.perf_counter()

        def finalize() -> None:
            write({"final": True})
            stream.close()
            finalize_console()

        return log_step, finalize

    return setup
