"""Chat messages from Jinja templates: one per CoT dimension, for NER (text) and relations (text + pair)."""
import base64
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import jinja2
from spacy.tokens import Doc

from ..errors import InputError

KNOWLEDGE_DIMS = ("noun", "sentence", "multimodal")
AUGMENTATION_DIMS = ("style", "entity", "image")
DIMS = KNOWLEDGE_DIMS + AUGMENTATION_DIMS
TASKS = ("ner", "rel")
SYSTEM_TEMPLATE = "system.jinja"

Message = Dict[str, Any]


class PromptTemplates:
    """Render the system prompt and `<task>/<dim>.jinja` user prompts; a user directory overrides the package's."""

    def __init__(self, template_dir: Optional[Union[str, Path]] = None):
        loaders: List[jinja2.BaseLoader] = [jinja2.PackageLoader("spacy_cot_distill.llm", "templates")]
        if template_dir is not None:
            template_dir = Path(template_dir)
            if not template_dir.is_dir():
                raise ValueError(f"Template directory {template_dir} does not exist: pass a directory that holds "
                                 f"{SYSTEM_TEMPLATE} and/or ner/<dim>.jinja, rel/<dim>.jinja files.")
            loaders.insert(0, jinja2.FileSystemLoader(str(template_dir)))
        # StrictUndefined: a template naming a variable we do not pass is an error, not an empty string
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined, autoescape=False
        )

    def render(self, name: str, **variables: Any) -> str:
        try:
            return self.env.get_template(name).render(**variables).strip()
        except jinja2.TemplateNotFound:
            raise ValueError(f"No prompt template {name!r}: add it to your template directory.") from None
        except jinja2.TemplateError as err:
            raise ValueError(f"Prompt template {name!r}: {err} (variables: text, caption, head, tail, image)") from None

    def messages(
        self,
        dim: str,
        text: str,
        *,
        caption: Optional[str] = None,
        head: Optional[str] = None,
        tail: Optional[str] = None,
        image_url: Optional[str] = None,
    ) -> List[Message]:
        """The system and user messages asking about `text` for `dim`; with head and tail, the relation prompt."""
        if (head is None) != (tail is None):
            raise ValueError("Pass both head and tail for a relation prompt, or neither.")
        task = "ner" if head is None else "rel"
        user = self.render(
            f"{task}/{dim}.jinja", text=text, caption=caption, head=head, tail=tail, image=image_url is not None
        )
        content: Union[str, List[Dict[str, Any]]] = user
        if image_url is not None:
            content = [{"type": "text", "text": user}, {"type": "image_url", "image_url": {"url": image_url}}]
        return [{"role": "system", "content": self.render(SYSTEM_TEMPLATE)}, {"role": "user", "content": content}]


def doc_text(doc: Doc) -> str:
    """The text the LLM sees: the doc's tokens joined by single spaces (as the shared knowledge was asked)."""
    return " ".join(token.text for token in doc)


# the image types vision endpoints accept, by their first bytes (the suffix of an image id proves nothing)
IMAGE_SIGNATURES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def _image_type(data: bytes) -> Optional[str]:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in IMAGE_SIGNATURES.items() if data.startswith(magic)), None)


def image_data_url(doc: Doc, image_dir: Optional[Path]) -> Optional[str]:
    """A data URL of the doc's image file in `image_dir`, or None when there is no such file.

    The image id must name a JPEG, PNG, GIF or WebP file inside `image_dir` once resolved (`..`, absolute
    ids and symlinks that lead out are refused): nothing else is ever sent to the endpoint.
    """
    if image_dir is None or not doc._.image_id:
        return None
    folder = Path(image_dir).resolve()
    path = (folder / str(doc._.image_id)).resolve()
    if not path.is_relative_to(folder):
        raise InputError(
            path, None, f"the image of doc {doc._.doc_id!r} (image_id {doc._.image_id!r}) is outside --image-dir "
            f"{folder}: image ids must name files inside the image folder",
        )
    if not path.is_file():
        return None
    data = path.read_bytes()
    mime = _image_type(data)
    if mime is None:
        raise InputError(
            path, None, f"the image of doc {doc._.doc_id!r} is not a JPEG, PNG, GIF or WebP file: only images are sent",
        )
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def doc_messages(
    templates: PromptTemplates,
    doc: Doc,
    dim: str,
    pair: Optional[Dict[str, Any]] = None,
    image_dir: Optional[Path] = None,
) -> List[Message]:
    """The messages for one doc (or one of its relation pairs); only `multimodal` sends the image or caption."""
    image_url = image_data_url(doc, image_dir) if dim == "multimodal" else None
    caption = doc._.caption if dim == "multimodal" else None
    head = tail = None
    if pair is not None:
        head, tail = (doc[slice(*pair[role])].text for role in ("head", "tail"))
    return templates.messages(dim, doc_text(doc), caption=caption, head=head, tail=tail, image_url=image_url)
