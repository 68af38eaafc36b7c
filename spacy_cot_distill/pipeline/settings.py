"""The distillation settings that `cot_ner` and `cot_rel` both take: one definition, with defaults, checks and docs.

The factories keep explicit signatures, since spaCy validates config values
against them; `tests/test_settings.py` holds them to the fields here. The
configuration reference's table lists every field.
"""
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional

# what `train_views` and `distill_from` take (two-stage distillation: see `CotNer`)
TRAIN_VIEWS = ("both", "teacher")
DISTILL_FROM = ("joint", "stored")


def _doc(text: str) -> Dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class DistillSettings:
    """How a component is trained by conditional prompt distillation (teacher: text + knowledge, student: text)."""

    alpha: float = field(default=0.5, metadata=_doc(
        "Weight of the teacher's and the student's cross-entropy; 1 - alpha weighs the KL term."))
    temperature: float = field(default=1.0, metadata=_doc(
        "Distillation temperature T; the KL term is scaled by T^2."))
    cot_dims: Optional[List[str]] = field(default=None, metadata=_doc(
        "The doc._.cot dimensions the teacher reads, in this order; None reads all a doc has, by name."))
    use_caption: bool = field(default=True, metadata=_doc(
        "Whether the teacher reads doc._.caption before the CoT dimensions."))
    max_length: int = field(default=128, metadata=_doc(
        "Sub-tokens per student input (the inference cost); longer texts are read in windows."))
    teacher_max_length: int = field(default=256, metadata=_doc(
        "Sub-tokens per teacher input: a student window, then the caption and knowledge cut to fit."))
    answer_sections: Optional[List[str]] = field(default=None, metadata=_doc(
        "For answers in headed sections, the sections the teacher reads, in this order (None: answers as written)."))
    segment_max_length: int = field(default=0, metadata=_doc(
        "At most this many sub-tokens of the caption and of each CoT dimension (0: no cut)."))
    distill: bool = field(default=True, metadata=_doc(
        "False trains the student alone (no teacher view, no KL term)."))
    use_knowledge_at_inference: bool = field(default=False, metadata=_doc(
        "Read docs that carry knowledge with the teacher view (the upper bound)."))
    train_views: str = field(default="both", metadata=_doc(
        '"both": the student view, with the teacher view beside it; "teacher": the teacher view alone (stage one).'))
    distill_from: str = field(default="joint", metadata=_doc(
        '"joint": the KL target is the teacher view in the same step; "stored": the distributions `teach` stored.'))

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be within [0, 1], not {self.alpha}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, not {self.temperature}")
        if self.segment_max_length < 0:
            raise ValueError(f"segment_max_length must be 0 (no cut) or positive, not {self.segment_max_length}")
        sections = self.answer_sections
        if sections is not None and not all(isinstance(s, str) and s.strip() for s in sections):
            raise ValueError(f"answer_sections must be a list of section headings, e.g. ['Named entities'], not {sections}")
        if self.train_views not in TRAIN_VIEWS:
            raise ValueError(f"train_views must be one of {TRAIN_VIEWS}, not {self.train_views!r}")
        if self.distill_from not in DISTILL_FROM:
            raise ValueError(f"distill_from must be one of {DISTILL_FROM}, not {self.distill_from!r}")
        if self.train_views == "teacher" and self.distill_from == "stored":
            raise ValueError('train_views = "teacher" trains the teacher (stage one), distill_from = "stored" a student '
                             "from the teacher's stored distributions (stage two): set one of them, in two trainings")
        if not self.distill and (self.train_views == "teacher" or self.distill_from == "stored"):
            setting = 'train_views = "teacher"' if self.train_views == "teacher" else 'distill_from = "stored"'
            raise ValueError(f"{setting} needs distill = true (distill = false trains the student alone, without a teacher)")

    @classmethod
    def from_args(cls, args: Dict[str, Any]) -> "DistillSettings":
        """The settings among a factory's arguments (`locals()`), `dims` read as `cot_dims` (its name before the rename)."""
        values = {f.name: args[f.name] for f in fields(cls)}
        values["cot_dims"] = resolve_cot_dims(values["cot_dims"], args.get("dims"))
        return cls(**values)

    def to_cfg(self) -> Dict[str, Any]:
        """The settings by name, as the component's `cfg` stores them."""
        return asdict(self)


def resolve_cot_dims(cot_dims: Optional[List[str]], dims: Optional[List[str]]) -> Optional[List[str]]:
    """`cot_dims`, or `dims`, its name in pipelines saved before the rename; both given must agree."""
    if dims is not None and cot_dims is not None and list(dims) != list(cot_dims):
        raise ValueError(f"dims is the old name of cot_dims: give one of them, not both ({dims} and {cot_dims})")
    return cot_dims if cot_dims is not None else dims


# the settings both factories take, with their defaults (`max_length` is overridden per component config)
DISTILL_DEFAULTS: Dict[str, Any] = {f.name: f.default for f in fields(DistillSettings) if f.default is not MISSING}
