"""The conditional prompt generator G and an encoder that reads text in two views."""
from typing import Any

import torch
from torch import nn


class ConditionalPromptGenerator(nn.Module):
    """G(x): `m` learned queries cross-attending over the input embeddings of x -> `m` soft prompts."""

    def __init__(self, width: int, m: int, n_heads: int = 4, dropout: float = 0.1):
        super().__init__()
        if width % n_heads:
            n_heads = 1
        self.queries = nn.Parameter(torch.randn(m, width) * 0.02)
        self.attention = nn.MultiheadAttention(width, n_heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self.feed_forward = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * width, width)
        )
        self.out_norm = nn.LayerNorm(width)

    def forward(self, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """embeddings [B, L, H], mask [B, L] (1 = real token) -> prompts [B, m, H]."""
        queries = self.queries.unsqueeze(0).expand(embeddings.shape[0], -1, -1)
        attended, _ = self.attention(queries, embeddings, embeddings, key_padding_mask=~mask.bool())
        prompts = self.norm(queries + attended)
        return self.out_norm(prompts + self.feed_forward(prompts))


# a batch-invariant encoder pads each row to its length rounded up to a multiple of this: few pad tokens a row and
# groups large enough to batch (on tweets, 4 runs as fast as the length-sorted buckets; 16 costs a quarter)
LENGTH_STEP = 4


class PromptedEncoder(nn.Module):
    """A Hugging Face encoder that reads either view of a text.

    Teacher view: the token ids as given (text plus knowledge). Student view:
    `G(x)`'s soft prompts prepended as `inputs_embeds` to the text's ids. Both
    return hidden states aligned with `input_ids` (the prompt positions removed).
    With `bucket_rows` > 0, a batch of more rows is encoded in length-sorted
    groups of that many, each padded only to its own longest row: the same
    hidden states for less padding (teacher rows vary with the knowledge's length).
    A `batch_invariant` encoder (int8: `quantize_module` sets it) computes each
    row's bits independently of the other rows and of the batch's padding.
    """

    def __init__(self, encoder: Any, m: int, n_heads: int = 4, bucket_rows: int = 0):
        super().__init__()
        self.encoder = encoder
        self.m = m
        self.bucket_rows = bucket_rows
        self.batch_invariant = False
        self.generator = ConditionalPromptGenerator(encoder.config.hidden_size, m, n_heads) if m else None

    @property
    def width(self) -> int:
        return self.encoder.config.hidden_size

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, prompted: bool
    ) -> torch.Tensor:
        """input_ids, attention_mask [B, L] -> hidden states [B, L, H]."""
        if self.batch_invariant:
            return self._encode_by_length(input_ids, attention_mask, prompted)
        if self.bucket_rows <= 0 or input_ids.shape[0] <= self.bucket_rows:
            return self._encode(input_ids, attention_mask, prompted)
        lengths = attention_mask.sum(dim=1)
        order = torch.argsort(lengths)
        parts = []
        for start in range(0, len(order), self.bucket_rows):
            rows = order[start : start + self.bucket_rows]
            longest = int(lengths[rows].max())
            part = self._encode(input_ids[rows, :longest], attention_mask[rows, :longest], prompted)
            parts.append(nn.functional.pad(part, (0, 0, 0, input_ids.shape[1] - longest)))
        return torch.cat(parts)[torch.argsort(order)]

    def _encode_by_length(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, prompted: bool) -> torch.Tensor:
        """Rows grouped by their length rounded up to a multiple of `LENGTH_STEP` and padded to exactly that, so that
        a row is encoded with the same padding in any batch.

        The encoder's kernels compute a row alike beside any rows of its shape, but round it differently with
        other padding; an int8 layer can turn such a last-bit difference into a step of its grid.
        """
        lengths = attention_mask.sum(dim=1)
        padded = (lengths + LENGTH_STEP - 1) // LENGTH_STEP * LENGTH_STEP
        positions = getattr(self.encoder.config, "max_position_embeddings", None)
        if isinstance(positions, int):  # never past the encoder's positions (a row itself always fits)
            padded = torch.maximum(padded.clamp(max=positions - (self.m if prompted else 0)), lengths)
        width = input_ids.shape[1]
        hidden = torch.zeros(*input_ids.shape, self.width, device=input_ids.device)
        for length in padded.unique().tolist():
            rows = (padded == length).nonzero().flatten()
            room = (0, max(0, length - width))  # the batch may be narrower than the group's length
            ids = nn.functional.pad(input_ids[rows, :length], room, value=self.encoder.config.pad_token_id or 0)
            states = self._encode(ids, nn.functional.pad(attention_mask[rows, :length], room), prompted)
            hidden[rows, : min(length, width)] = states[:, :width].to(hidden.dtype)
        return hidden

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, prompted: bool) -> torch.Tensor:
        if not prompted or self.generator is None:
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        embeddings = self.encoder.get_input_embeddings()(input_ids)
        if self.batch_invariant and len(input_ids) == 1:
            # torch's attention takes a one-row batch along another path (its transposed input is contiguous), which
            # rounds otherwise: the row goes with a copy of itself
            prompts = self.generator(embeddings.repeat(2, 1, 1), attention_mask.repeat(2, 1))[:1]
        else:
            prompts = self.generator(embeddings, attention_mask)
        prompt_mask = attention_mask.new_ones(input_ids.shape[0], self.m)
        output = self.encoder(
            inputs_embeds=torch.cat([prompts, embeddings], dim=1),
            attention_mask=torch.cat([prompt_mask, attention_mask], dim=1),
        )
        return output.last_hidden_state[:, self.m :]
