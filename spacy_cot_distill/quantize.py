"""int8 inference: PyTorch dynamic quantisation of the distilled components' Linear layers.

`quantize_pipeline(nlp)` swaps each cot component's torch module (encoder and heads) for its
`torch.ao.quantization.quantize_dynamic` copy: Linear weights stored as int8 with a scale per output
channel, activations quantised on the fly, CPU only. The module's serialised bytes say it is quantised,
so a saved or packaged int8 pipeline loads as int8 (`EncoderModel`'s deserialiser rebuilds the module,
quantises it, then loads the int8 weights).
"""
import warnings
from typing import List

import torch
from spacy.language import Language

# per-channel int8 weights (a scale per output row): per-tensor weights cost 1.65 F1 on a converged Twitter-2017
# student, per-channel +0.15 (benchmarks/RESULTS.md, "int8 F1 cost")
QUANTIZABLE = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}


def is_quantized(module: torch.nn.Module) -> bool:
    """Whether `module` holds dynamically quantised layers."""
    return any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in module.modules())


def quantize_module(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of `module` with every Linear layer dynamically quantised to int8, weights per output channel (the
    module is left as it is)."""
    with warnings.catch_warnings():
        # torch 2.10+ points eager-mode quantisation users at torchao; the API still works as documented
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(module, QUANTIZABLE, dtype=torch.qint8)


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
