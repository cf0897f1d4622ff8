"""A tiny text encoder built on the spot (random weights, no download): forward(input_ids, attention_mask),
as Hugging Face models take it. Its padding mask is honoured by attention, so real tokens' states do not
depend on how much padding follows them: what the mask-aware token mean relies on."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

VOCAB = 60


class TinyEncoder(nn.Module):
    """Embedding + one self-attention block + a head ``n_out`` wide (an embedding or class scores)."""

    def __init__(self, dim: int = 16, n_out: int = 24, max_len: int = 32, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.tok = nn.Embedding(VOCAB, dim, padding_idx=0)
        self.pos = nn.Embedding(max_len, dim)
        self.attn = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 32), nn.GELU(), nn.Linear(32, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_out)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        t = input_ids.shape[1]
        x = self.tok(input_ids) + self.pos(torch.arange(t, device=input_ids.device))[None]
        pad = None if attention_mask is None else attention_mask == 0
        a, _ = self.attn(x, x, x, key_padding_mask=pad, need_weights=False)
        x = self.norm1(x + a)
        x = self.norm2(x + self.ff(x))
        return self.head(x[:, 0])  # the first ("CLS") token's state


def token_batch(
    n: int = 30, max_len: int = 12, seed: int = 0, topics: int = 3
) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """A padded batch ``{"input_ids", "attention_mask"}`` of n sequences of 3..max_len tokens, and lengths.

    Sequence i is about topic ``i % topics``: its tokens come from that topic's share of the vocabulary, so
    the encoder's token means form one group per topic (NAPs to find)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, max_len + 1, size=n)
    share = (VOCAB - 1) // topics
    ids = np.zeros((n, max_len), dtype=np.int64)
    for i, k in enumerate(lengths):
        lo = 1 + (i % topics) * share
        ids[i, :k] = rng.integers(lo, lo + share, size=k)
    mask = (ids != 0).astype(np.int64)
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}, lengths


class TokenItems(torch.utils.data.Dataset):
    """One dict of model arguments plus a label (``i % n_labels``) per item, as a Hugging Face dataset in
    torch format yields them (a DataLoader over it yields dicts)."""

    def __init__(self, batch: dict[str, torch.Tensor], n_labels: int = 3) -> None:
        self.batch, self.n_labels = batch, n_labels

    def __len__(self) -> int:
        return len(self.batch["input_ids"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.batch.items()} | {"labels": torch.tensor(i % self.n_labels)}
