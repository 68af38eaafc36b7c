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


def viterbi_batch(
    log_probs: numpy.ndarray, lengths: Sequence[int], transitions: numpy.ndarray, start: numpy.ndarray
) -> List[List[int]]:
    """Best tag ids of each doc under hard transition constraints, from [sum(lengths), n_tags] log-probabilities
    (the docs' rows one after another).

    The docs are padded to the longest and decoded together, one numpy step per
    position for all of them; a doc's score stops moving after its last word.
    """
    sizes = numpy.array(list(lengths), dtype=int)
    n_docs, longest, n_tags = len(sizes), int(sizes.max(initial=0)), log_probs.shape[1]
    if longest == 0:
        return [[] for _ in sizes]
    offsets = numpy.concatenate([[0], numpy.cumsum(sizes)])
    padded = numpy.zeros((n_docs, longest, n_tags), dtype=log_probs.dtype)
    for i in range(n_docs):
        padded[i, : sizes[i]] = log_probs[offsets[i] : offsets[i + 1]]
    docs = numpy.arange(n_docs)
    score = start[None, :] + padded[:, 0]
    backpointers = numpy.zeros((n_docs, longest, n_tags), dtype=int)
    for t in range(1, longest):
        candidates = score[:, :, None] + transitions[None, :, :]  # [doc, from, to]
        backpointers[:, t] = candidates.argmax(axis=1)
        moved = candidates.max(axis=1) + padded[:, t]
        score = numpy.where((t < sizes)[:, None], moved, score)
    paths = numpy.zeros((n_docs, longest), dtype=int)
    tag = score.argmax(axis=1)
    for t in range(longest - 1, -1, -1):
        paths[:, t] = tag
        if t:  # docs still inside their words step back; the others keep their final best tag until they start
            tag = numpy.where(t < sizes, backpointers[docs, t, tag], tag)
    return [paths[i, : sizes[i]].tolist() for i in range(n_docs)]
