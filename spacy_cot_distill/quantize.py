"""int8 inference: the distilled components' Linear layers with int8 weights and per-token int8 activations.

`quantize_pipeline(nlp)` swaps each cot component's torch module (encoder and heads) for a copy whose
Linear layers are `Int8Linear`: weights stored as int8 with a scale per output channel, and each input
row (a token) quantised with its own scale at run time, multiplied in integers by fbgemm. A token's output
therefore depends on that token's input alone, and the encoder is made batch-invariant (each row padded to a
length of its own, a one-row batch's soft prompts made as in any other), so that the fp32 layers between the int8
ones compute the same bits whatever the batch: a doc's int8 output never depends on the other docs of its batch or
on padding, and is the same for any batch size, `--n-process`, `--resume` or Ray split (tests/test_quantize.py).
`torch.ao`'s dynamic quantisation scales activations per batch and cannot keep that promise. CPU only (x86). The
module's serialised bytes say it is quantised, so a saved or packaged int8 pipeline loads as int8
(`EncoderModel`'s deserialiser rebuilds the module, quantises it, then loads the int8 weights; those of an older,
dynamically quantised pipeline load as well).
"""
import copy
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from spacy.language import Language

from .errors import InputError
from .files import WriteError
from .models.prompt_generator import PromptedEncoder

# fbgemm multiplies unsigned 8-bit activations by int8 weights in pairs summed in 16 bits: 8-bit activations
# times 8-bit weights can overflow on CPUs without VNNI. Weights take 7 bits and a sign (a scale per output
# channel), activations all 8 (a scale per token): the pair sums stay within 16 bits on every x86 CPU, and the
# activations, whose range varies most, keep the finer grid (on a trained cot_ner, -0.05 F1 against -0.55 the
# other way round; benchmarks/RESULTS.md, "int8: how the bits are split").
WEIGHT_LEVELS = 63
ACTIVATION_LEVELS = 127
ACTIVATION_ZERO = 128


class Int8Linear(torch.nn.Module):
    """A Linear layer for inference with int8 weights (a scale per output channel) and activations quantised per
    row (token) at run time, so that each row's output depends on that row alone.

    in_features (int): The input width.
    out_features (int): The output width.
    bias (bool): Whether the layer adds a bias (kept in fp32).
    """

    weight: torch.Tensor
    weight_scale: torch.Tensor
    bias: Optional[torch.Tensor]

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # stored (in, out), the layout of the int8 pipelines written before the fbgemm kernel, so they load as they are
        self.register_buffer("weight", torch.zeros(in_features, out_features, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_features))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)
        self._packed: Any = None  # fbgemm's packed weights, made from the buffers at the first call

    @classmethod
    def from_float(cls, linear: torch.nn.Linear) -> "Int8Linear":
        """The int8 copy of a trained `linear`: symmetric per-output-channel weights."""
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None)
        layer.set_weight(linear.weight.detach().float())
        if layer.bias is not None:
            layer.bias.copy_(linear.bias.detach().float())
        return layer

    def set_weight(self, weight: torch.Tensor) -> None:
        """Quantise `weight` [out, in] to `WEIGHT_LEVELS` a side, with a scale per output channel."""
        scale = weight.abs().amax(dim=1).clamp(min=torch.finfo(torch.float32).tiny) / WEIGHT_LEVELS
        self.weight.copy_(torch.round(weight / scale[:, None]).clamp(-WEIGHT_LEVELS, WEIGHT_LEVELS).to(torch.int8).t())
        self.weight_scale.copy_(scale)
        self._packed = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()
        # each row divided by its own peak, so that one fixed activation scale quantises every row to its own range
        peak = rows.abs().amax(dim=1, keepdim=True).clamp_(min=torch.finfo(torch.float32).tiny)
        y = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
            rows / peak, 1.0 / ACTIVATION_LEVELS, ACTIVATION_ZERO, self.packed_weight())
        # the peak back and the bias in one pass (the layer is small enough that each pass over its output counts)
        y = y.mul_(peak) if self.bias is None else torch.addcmul(self.bias, y, peak)
        return y.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def packed_weight(self) -> Any:
        """The weights in fbgemm's layout, packed once."""
        if self._packed is None:
            with warnings.catch_warnings():
                # torch announces the end of quantized tensors; the kernel still takes its weights as one
                warnings.filterwarnings("ignore", message=".*quantized tensor creation functions", category=UserWarning)
                weight = torch._make_per_channel_quantized_tensor(
                    self.weight.t().contiguous(), self.weight_scale.double(),
                    torch.zeros(self.out_features, dtype=torch.long), 0)
            self._packed = torch.ops.quantized.linear_prepack(weight, None)
        return self._packed

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        packed = state_dict.pop(prefix + "_packed_params._packed_params", None)
        if packed is not None:  # a layer that torch.ao's dynamic quantisation saved (int8 pipelines of version 0.1.0)
            weight, bias = packed
            for key in ("scale", "zero_point", "_packed_params.dtype"):
                state_dict.pop(prefix + key, None)
            state_dict[prefix + "weight"] = weight.int_repr().t().contiguous()
            per_channel = weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
            scale = weight.q_per_channel_scales() if per_channel else torch.full((weight.shape[0],), weight.q_scale())
            state_dict[prefix + "weight_scale"] = scale.float()
            if bias is not None:
                state_dict[prefix + "bias"] = bias.float()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._packed = None
        if int(self.weight.abs().max()) > WEIGHT_LEVELS:  # 8-bit weights, as earlier int8 pipelines saved them
            self.set_weight(self.weight.t().float() * self.weight_scale[:, None])

    def __getstate__(self) -> Dict[str, Any]:
        return {**self.__dict__, "_packed": None}  # packed again where the copy runs

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def is_quantized(module: torch.nn.Module) -> bool:
    """Whether `module` holds int8 layers (`Int8Linear`, or torch.ao's dynamically quantised ones)."""
    return any(isinstance(m, Int8Linear) or type(m).__module__.startswith("torch.ao.nn.quantized")
               for m in module.modules())


def quantize_module(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of `module` with every Linear layer replaced by its `Int8Linear` and its encoder made batch-invariant
    (`PromptedEncoder.batch_invariant`); the module is left as it is.

    RAISES (ValueError): This torch has no x86 int8 kernel for it.
    """
    if not hasattr(torch.ops.quantized, "linear_with_input_q_dq_qweight_dq_output_fp32"):
        raise ValueError(f"int8 needs torch's x86 int8 kernel, which torch {torch.__version__} lacks: install a torch "
                         "with it (pip install torch==2.13.0 has it), or load the pipeline in fp32")
    quantized = copy.deepcopy(module)
    for parent in list(quantized.modules()):
        for name, child in parent.named_children():
            if type(child) is torch.nn.Linear:
                setattr(parent, name, Int8Linear.from_float(child))
        if isinstance(parent, PromptedEncoder):
            # the fp32 layers between the int8 ones round a row's last bits differently beside other rows and
            # padding, and one bit can move a value onto the next int8 step
            parent.batch_invariant = True
    return quantized


def quantize_pipeline(nlp: Language) -> List[str]:
    """Quantise the torch modules of every component built on `EncoderModel` (cot_ner, cot_rel) in place.

    nlp (Language): A loaded pipeline on CPU.
    RETURNS (List[str]): The names of the components quantised.
    RAISES (ValueError): No component has a torch module to quantise.
    """
    done = []
    for name, component in nlp.components:
        model = getattr(component, "model", None)
        shims = [shim for node in model.walk() for shim in node.shims] if model is not None else []
        modules = [shim for shim in shims if isinstance(getattr(shim, "_model", None), torch.nn.Module)
                   and hasattr(shim._model, "encoder")]
        for shim in modules:
            if not is_quantized(shim._model):
                shim._model = quantize_module(shim._model.eval())
        if modules:
            done.append(name)
    if not done:
        raise ValueError(f"no component of {nlp.pipe_names} has a distilled torch model to quantise (cot_ner, cot_rel)")
    return done


# the note `cot-distill quantize` adds to meta.json's description, which marks a folder as its output; the second
# is the note of the dynamically quantised pipelines written by version 0.1.0
INT8_NOTE = " (int8: Linear layers with int8 weights and per-token activations)"
INT8_NOTES = (INT8_NOTE, " (int8: Linear layers dynamically quantised)")


def describe_int8(meta: Dict[str, Any]) -> None:
    """Mark `meta`'s description as int8, once (a pipeline quantised again keeps one note)."""
    description = meta.get("description") or ""
    for note in INT8_NOTES:
        description = description.replace(note, "")
    meta["description"] = description + INT8_NOTE


def is_quantize_output(path: Path) -> bool:
    """Whether the folder `path` is a pipeline that `cot-distill quantize` wrote (its meta.json says so)."""
    try:
        description = json.loads((path / "meta.json").read_text(encoding="utf-8")).get("description") or ""
    except (OSError, ValueError, AttributeError):
        return False
    return any(note in description for note in INT8_NOTES)


def check_output(output: Path, model: str, force: bool = False) -> None:
    """Refuse an OUT that `save_pipeline` would destroy: the input or a folder holding it (or the current folder),
    always; anything else that exists and is not an earlier output of `quantize` nor an empty folder, unless `force`.

    RAISES (InputError): `output` may not be replaced; the message says what to do.
    """
    target = output.resolve()
    held = [Path(model).resolve(), Path.cwd()] if Path(model).exists() else [Path.cwd()]
    for inside in held:
        if target == inside or target in inside.parents:
            what = "the input pipeline" if inside != Path.cwd() else "the current folder"
            raise InputError(output, None, f"is or holds {what} ({inside}), which it would replace: give a new folder")
    if not output.exists() and not output.is_symlink():
        return
    if output.is_dir() and not output.is_symlink() and (is_quantize_output(output) or not any(output.iterdir())):
        return
    if not force:
        raise InputError(output, None, "exists and is not an earlier output of `cot-distill quantize`: give a new "
                         "folder, or --force to replace it")


def save_pipeline(nlp: Language, output: Path) -> None:
    """Write `nlp` to the folder `output` whole or not at all: beside it first, then swapped in, the old `output`
    removed only once the new one is in place.

    RAISES (WriteError): The folder cannot be written (read-only, full disk, no permission).
    """
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.") as tmp:
            nlp.to_disk(Path(tmp) / "pipeline")
            if output.exists() or output.is_symlink():
                os.rename(output, Path(tmp) / "old")
            os.rename(Path(tmp) / "pipeline", output)
    except OSError as err:
        raise WriteError(output, err) from None
