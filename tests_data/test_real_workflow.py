"""`all-llm`, then the `all` workflow's import-knowledge step, on the first real Twitter-2017 tweets."""
from workflows import check_all_llm_then_import_knowledge


def test_all_llm_then_import_knowledge_on_real_tweets(real_data, tiny_encoder, tmp_path):
    check_all_llm_then_import_knowledge(real_data, tmp_path, tiny_encoder)
