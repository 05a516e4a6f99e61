"""The embedded model family: Pythia-style GPT-NeoX shapes, built from a few numbers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from lmtraj.errors import ConfigError


@dataclass(frozen=True)
class ModelShape:
    d_model: int  # residual width
    n_layers: int
    n_heads: int
    context: int  # maximum positions seen in training
    vocab_size: int

    def validate(self, name: str) -> None:
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"models.{name}: d_model={self.d_model} is not divisible by n_heads={self.n_heads}"
            )


def build_config(shape: ModelShape, eos_token_id: int) -> GPTNeoXConfig:
    """Pythia's choices (rotary on 25% of head dims, parallel residual, untied embeddings)."""
    cfg = GPTNeoXConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.d_model,
        num_hidden_layers=shape.n_layers,
        num_attention_heads=shape.n_heads,
        intermediate_size=4 * shape.d_model,
        max_position_embeddings=shape.context,
        rotary_pct=0.25,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
    cfg._attn_implementation = "sdpa"
    return cfg


def build_model(shape: ModelShape, eos_token_id: int, seed: int) -> GPTNeoXForCausalLM:
    torch.manual_seed(seed)
    return GPTNeoXForCausalLM(build_config(shape, eos_token_id))


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Total and non-embedding parameter counts (Pythia's convention: both embedding matrices excluded)."""
    total = sum(p.numel() for p in model.parameters())
    embedding_ids = set()
    for module in (model.get_input_embeddings(), model.get_output_embeddings()):
        if module is not None:
            embedding_ids.update(id(p) for p in module.parameters())
    embedding = sum(p.numel() for p in model.parameters() if id(p) in embedding_ids)
    return {"params_total": int(total), "params_non_embedding": int(total - embedding)}
