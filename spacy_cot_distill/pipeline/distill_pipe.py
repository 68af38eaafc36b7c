"""What the two distilled components share: settings checks, the teacher's knowledge, loading, the device."""
from typing import Iterable, List, Tuple

import torch
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example

from ..models.encoder import torch_module


class DistillationPipe(TrainablePipe):
    """A TrainablePipe trained by conditional prompt distillation (teacher: text + knowledge, student: text)."""

    @staticmethod
    def check_settings(alpha: float, temperature: float) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be within [0, 1], not {alpha}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, not {temperature}")

    def knowledge(self, doc: Doc) -> List[str]:
        """The teacher's extra text for a doc: its caption, then the configured CoT dimensions."""
        segments = [doc._.caption] if self.cfg["use_caption"] and doc._.caption else []
        cot = doc._.cot
        dims = self.cfg["dims"] if self.cfg["dims"] is not None else sorted(cot)
        return segments + [cot[dim] for dim in dims if cot.get(dim)]

    def get_loss(self, examples: Iterable[Example], scores) -> Tuple[float, None]:
        """Not used: `update` computes the loss in torch (see `distillation_loss`)."""
        raise NotImplementedError(f"{self.name} computes its loss inside update()")

    def from_disk(self, path, *, exclude: Iterable[str] = tuple()) -> "DistillationPipe":
        """Load labels and weights; the settings of the config in force win over the saved copy."""
        settings = {key: value for key, value in self.cfg.items() if key != "labels"}
        super().from_disk(path, exclude=exclude)
        self.cfg.update(settings)  # so that spacy.load(..., config=...) overrides take effect
        return self

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "DistillationPipe":
        """Load labels and weights; the settings of the config in force win over the saved copy."""
        settings = {key: value for key, value in self.cfg.items() if key != "labels"}
        super().from_bytes(bytes_data, exclude=exclude)
        self.cfg.update(settings)
        return self

    def _device(self) -> torch.device:
        parameter = next(torch_module(self.model).parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")
