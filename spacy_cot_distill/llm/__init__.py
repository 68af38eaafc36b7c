"""LLM chain-of-thought: prompt templates, a response cache, an async client, generation and batch jobs.

Nothing here imports `openai` at import time; the client is created inside the functions that ask.
"""
from .cache import ResponseCache, request_key
from .client import Answer, LLMSettings, complete
from .generate import GenerationReport, generate
from .prompts import AUGMENTATION_DIMS, DIMS, KNOWLEDGE_DIMS, PromptTemplates

__all__ = [
    "AUGMENTATION_DIMS", "Answer", "DIMS", "GenerationReport", "KNOWLEDGE_DIMS", "LLMSettings", "PromptTemplates",
    "ResponseCache", "complete", "generate", "request_key",
]
