"""The `all-llm` and `all` workflows of project.yml, end to end on the synthetic Twitter-2017 tweets (see workflows.py)."""
from workflows import check_all_llm_then_import_knowledge


def test_all_llm_then_import_knowledge(synthetic_data, tiny_encoder, tmp_path):
    check_all_llm_then_import_knowledge(synthetic_data, tmp_path, tiny_encoder)
