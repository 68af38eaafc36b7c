"""Chat messages from Jinja templates: one per CoT dimension, for NER (text) and relations (text + pair)."""
import base64
import mimetypes
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import jinja2
from spacy.tokens import Doc

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


def image_data_url(doc: Doc, image_dir: Optional[Path]) -> Optional[str]:
    """A data URL of the doc's image file in `image_dir`, or None when there is no such file."""
    if image_dir is None or not doc._.image_id:
        return None
    path = Path(image_dir) / doc._.image_id
    if not path.is_file():
        return None
    mime = mimetypes.guess_type(path.name)[0] or "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


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
