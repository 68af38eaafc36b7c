from typer.testing import CliRunner

from spacy_cot_distill.cli import app


def test_encoder_command_writes_a_loadable_model_dir(tmp_path):
    from transformers import AutoConfig

    result = CliRunner().invoke(app, ["encoder", "all-MiniLM-L6-v2", str(tmp_path / "minilm")])
    assert result.exit_code == 0, result.output
    assert AutoConfig.from_pretrained(tmp_path / "minilm").hidden_size == 384
    result = CliRunner().invoke(app, ["encoder", "bert-huge", str(tmp_path / "x")])
    assert result.exit_code == 1 and "unknown packaged encoder" in result.output
