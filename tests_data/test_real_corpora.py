"""The converters and import-knowledge on the real corpora: the known counts (../shared/data/README.md)."""
from collections import Counter

from corpus_checks import (
    check_docbin_round_trip,
    check_import_qwen_knowledge,
    check_mnre_with_qwen,
    check_twitter2015_seqeval_convention,
    check_twitter_with_captions_and_qwen,
)


def test_twitter2017_counts_and_round_trip(real_data, tmp_path):
    check_twitter_with_captions_and_qwen(
        real_data, "twitter2017", tmp_path, docs=3373, entities=Counter(PER=2943, LOC=731, ORG=1674, MISC=701)
    )


def test_twitter2015_seqeval_convention(real_data, tmp_path):
    check_twitter2015_seqeval_convention(real_data, tmp_path, docs=4000, b_starts=6166, unanswered=["33008"])


def test_mnre_counts_and_round_trip(real_data, tmp_path):
    check_mnre_with_qwen(real_data, tmp_path, docs=7330, relations=12247, doubly_labelled=27)


def test_every_converter_round_trips_through_docbin(real_data, tmp_path):
    check_docbin_round_trip(real_data, tmp_path)


def test_import_knowledge_puts_the_shared_qwen_knowledge_into_doc_cot(real_data, tmp_path):
    check_import_qwen_knowledge(real_data, tmp_path, docs=723)
