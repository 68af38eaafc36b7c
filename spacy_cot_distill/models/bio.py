"""BIO tag sets and Viterbi decoding that can only produce valid BIO sequences."""
from typing import List, Sequence

import numpy

NEG = -1e9


def bio_tags(labels: Sequence[str]) -> List[str]:
    """"O" then B-/I- for each label, in label order."""
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def transition_scores(tags: Sequence[str]) -> numpy.ndarray:
    """[from, to] scores: 0 where allowed, NEG for I-X after anything but B-X or I-X."""
    n = len(tags)
    scores = numpy.zeros((n, n), dtype="f")
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            for i, prev in enumerate(tags):
                if prev[2:] != tag[2:] or prev == "O":
                    scores[i, j] = NEG
    return scores


def start_scores(tags: Sequence[str]) -> numpy.ndarray:
    """Scores for the first tag of a doc: a doc cannot start inside an entity."""
    return numpy.array([NEG if tag.startswith("I-") else 0.0 for tag in tags], dtype="f")


def viterbi(log_probs: numpy.ndarray, transitions: numpy.ndarray, start: numpy.ndarray) -> List[int]:
    """Best tag ids for [n_words, n_tags] log-probabilities under hard transition constraints."""
    n_words = log_probs.shape[0]
    if n_words == 0:
        return []
    score = start + log_probs[0]
    backpointers = numpy.zeros(log_probs.shape, dtype="i")
    for t in range(1, n_words):
        candidates = score[:, None] + transitions
        backpointers[t] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_probs[t]
    best = [int(score.argmax())]
    for t in range(n_words - 1, 0, -1):
        best.append(int(backpointers[t, best[-1]]))
    return best[::-1]
