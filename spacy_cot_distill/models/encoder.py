"""A Hugging Face encoder inside a thinc model, serialised with the pipeline.

The pretrained weights are read once, in `initialize`, from a hub name or a
local directory. After that the encoder's config and tokenizer files travel in
the model's bytes next to the weights, so a saved pipeline is rebuilt from
what it stores and never looks at the original path (or the network) again.
"""
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import srsly
import torch
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, get_torch_default_device

from ..quantize import is_quantized, quantize_module

# (encoder, tokenizer, nO) -> the task's torch module, which keeps them as `.encoder`, `.tokenizer`, `.nO`
# and turns the model's input into tensors in `.featurize(X)`
BuildModule = Callable[[Any, Any, int], torch.nn.Module]


def load_pretrained(name_or_path: str, special_tokens: Iterable[str] = ()) -> Tuple[Any, Any]:
    """Load (tokenizer, encoder) from a hub name or a local directory, adding special tokens."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    encoder = AutoModel.from_pretrained(str(name_or_path))
    special_tokens = list(special_tokens)
    if special_tokens:
        tokenizer.add_special_tokens({"additional_special_tokens": special_tokens})
        encoder.resize_token_embeddings(len(tokenizer))
    return tokenizer, encoder


def encoder_files(tokenizer: Any, encoder: Any) -> Dict[str, bytes]:
    """The encoder's config and tokenizer files (no weights), by file name."""
    with tempfile.TemporaryDirectory() as tmp:
        encoder.config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}


def encoder_from_files(files: Dict[str, bytes]) -> Tuple[Any, Any]:
    """Rebuild (tokenizer, encoder with untrained weights) from `encoder_files` output."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        tokenizer = AutoTokenizer.from_pretrained(tmp)
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(tmp))
    return tokenizer, encoder


def torch_module(model: Model) -> Any:
    """The torch module inside a model made by `EncoderModel`."""
    return model.layers[0].shims[0]._model


def set_module_dropout(module: torch.nn.Module, rate: float) -> None:
    """Set every dropout of a torch module to `rate`: dropout layers, attention dropout, SDPA's dropout probability."""
    for node in module.modules():
        if isinstance(node, torch.nn.Dropout):
            node.p = rate
        elif isinstance(node, torch.nn.MultiheadAttention):
            node.dropout = rate
        elif isinstance(getattr(node, "dropout_prob", None), float):
            setattr(node, "dropout_prob", rate)  # Hugging Face attention that calls scaled_dot_product_attention


def check_max_length(model: Model, max_length: int) -> None:
    """Raise if `max_length` sub-tokens leave a model made by `EncoderModel` no room for text."""
    shortest = model.attrs["min_length"]
    if max_length < shortest:
        raise ValueError(
            f"max_length ({max_length}) leaves no room for text in {model.name}: its {model.attrs['m']} soft prompts "
            f"and special tokens need {shortest} or more"
        )


def EncoderModel(
    name: str,
    encoder: str,
    build: BuildModule,
    *,
    dropout: float,
    min_length: int,
    m: int,
    special_tokens: Iterable[str] = (),
    quantize: Optional[str] = None,
) -> Model:
    """A thinc model around `build(encoder, tokenizer, nO)`, loading `encoder` on initialize.

    Its input is what the torch module's `featurize` reads (docs and the views
    asked for); the module turns it into tensors, so tokenisation stays inside
    the model. Its output is the module's output, and its backprop takes the
    scalar loss tensor. In training every dropout of the module is set to the
    `dropout_rate` attribute (`dropout`, or what thinc's `set_dropout_rate` gave).
    With `quantize="int8"` the module's Linear layers become `Int8Linear` (int8
    weights with a scale per output channel, each token's activations quantised
    with its own scale; see `spacy_cot_distill.quantize`) once its weights are
    loaded (`from_bytes`/`from_disk`, so `spacy.load`); `initialize` leaves it
    fp32, since int8 layers cannot be trained.
    """
    special_tokens = list(special_tokens)
    check_quantize(quantize)

    def serialize(module: torch.nn.Module) -> bytes:
        state = BytesIO()
        torch.save(module.state_dict(), state)
        msg = {
            "nO": module.nO,
            "encoder": encoder_files(module.tokenizer, module.encoder),
            "state": state.getvalue(),
            "int8": is_quantized(module),
        }
        return srsly.msgpack_dumps(msg)

    def deserialize(_old: Any, data: bytes, device: torch.device) -> torch.nn.Module:
        msg = srsly.msgpack_loads(data)
        tokenizer, hf_encoder = encoder_from_files(msg["encoder"])
        module = build(hf_encoder, tokenizer, msg["nO"])
        int8 = msg.get("int8") or quantize == "int8"
        if int8 and device.type != "cpu":
            raise ValueError(f"int8 models run on CPU only, not on {device}: load the "
                             "pipeline without a GPU, or an fp32 one with quantize = null")
        if msg.get("int8"):  # the int8 layers' weights load into int8 layers
            module = quantize_module(module.eval())
        module.load_state_dict(torch.load(BytesIO(msg["state"]), map_location=device))
        if int8 and not is_quantized(module):  # fp32 weights, int8 asked for in the config
            module = quantize_module(module.eval())
        return module.to(device)

    wrapper = PyTorchWrapper_v3(
        torch.nn.Module(),  # replaced on initialize or from_bytes
        convert_inputs=_convert_inputs,
        convert_outputs=_convert_outputs,
        serialize_model=serialize,
        deserialize_model=deserialize,
    )

    def init(model: Model, X: Any = None, Y: Any = None) -> None:
        tokenizer, hf_encoder = load_pretrained(encoder, special_tokens)
        module = build(hf_encoder, tokenizer, model.get_dim("nO"))
        shim = model.layers[0].shims[0]
        shim._model = module.to(get_torch_default_device())

    return Model(
        name,
        _forward,
        init=init,
        layers=[wrapper],
        dims={"nO": None},
        attrs={"encoder": encoder, "dropout_rate": dropout, "min_length": min_length, "m": m},
    )


def check_quantize(quantize: Optional[str]) -> None:
    """Raise unless `quantize` is a setting `EncoderModel` knows: None (fp32) or "int8"."""
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be null (fp32) or \"int8\", not {quantize!r}")


def _forward(model: Model, X: Any, is_train: bool):
    module = torch_module(model)
    if is_train:
        if is_quantized(module):
            raise ValueError(f"{model.name} is int8 and cannot be trained: train the fp32 "
                             "pipeline (quantize = null) and quantise it when loading it")
        set_module_dropout(module, model.attrs["dropout_rate"])
    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    inputs = module.featurize(X).to(device)
    if is_train:
        return model.layers[0](inputs, is_train)
    # inference_mode skips autograd's version counters and views, which no_grad (thinc's shim) still keeps
    training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            return module(inputs), _no_backprop
    finally:
        module.train(training)


def _no_backprop(d_outputs: Any) -> Any:
    raise ValueError("a model run for prediction (is_train=False) has no backprop: use begin_update to train")


def _convert_inputs(model: Model, X: Any, is_train: bool):
    return ArgsKwargs(args=(X,), kwargs={}), lambda dX: None


def _convert_outputs(model: Model, inputs_outputs: Any, is_train: bool):
    _, Y = inputs_outputs
    # the caller computes the loss in torch and hands the loss tensor back
    return Y, lambda loss: ArgsKwargs(args=((loss,),), kwargs={"grad_tensors": (torch.ones_like(loss),)})
