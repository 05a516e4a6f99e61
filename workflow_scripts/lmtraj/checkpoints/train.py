"""Training loop for the embedded suite: one schedule, one data order, several sizes.

Every size sees exactly the same batches in the same order (a seeded list of window starts) and the
same learning-rate schedule, as in Pythia, so differences between trajectories come from size alone.
Checkpoint `k` holds the weights after `k` optimizer updates; checkpoint 0 is the initialisation.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lmtraj.errors import DataError
from lmtraj.progress import Progress


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch_size: int
    context: int
    lr: float
    min_lr_ratio: float = 0.1
    warmup_fraction: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    seed: int = 1234

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context


def lr_at(step: int, s: TrainSettings) -> float:
    """Linear warm-up, then cosine decay to `min_lr_ratio * lr` (a pure function of the step)."""
    warmup = max(1, int(round(s.warmup_fraction * s.steps)))
    if step < warmup:
        return s.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, s.steps - warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return s.lr * (s.min_lr_ratio + (1.0 - s.min_lr_ratio) * cosine)


def batch_starts(n_tokens: int, s: TrainSettings) -> np.ndarray:
    """Window starts for every step (steps x batch), fixed by the seed alone, shared by every size."""
    span = n_tokens - s.context - 1
    if span <= 0:
        raise DataError(
            f"training corpus has {n_tokens} tokens, fewer than one window of {s.context + 1}"
        )
    rng = np.random.default_rng(s.seed)
    return rng.integers(0, span, size=(s.steps, s.batch_size), dtype=np.int64)


def train(
    model: torch.nn.Module,
    tokens: np.ndarray,
    s: TrainSettings,
    save_steps: list[int],
    save: Callable[[int, torch.nn.Module, float | None], None],
    log: logging.Logger,
    device: str = "cpu",
) -> list[dict]:
    """Train for `s.steps` updates, calling `save(step, model, last_loss)` at every step in `save_steps`.

    Returns the training-loss log (one row per step).
    """
    torch.manual_seed(s.seed)
    model.to(device)
    data = torch.from_numpy(tokens.astype(np.int64)).to(device)
    starts = batch_starts(len(data), s)
    offsets = torch.arange(s.context + 1, device=device)
    # bf16 autocast on GPUs that have it (fp32 master weights); on CPU it was measured slower.
    use_amp = device == "cuda" and torch.cuda.is_bf16_supported()
    amp = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
        if use_amp
        else contextlib.nullcontext
    )
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": s.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=s.lr,
        betas=(s.beta1, s.beta2),
    )
    wanted = set(save_steps)
    history: list[dict] = []
    progress = Progress(s.steps, log, "training", unit="steps")
    loss_value = None
    if 0 in wanted:
        save(0, model, None)
    model.train()
    for step in range(s.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, s)
        window = data[torch.from_numpy(starts[step]).to(device)[:, None] + offsets]
        # Score all `context` next tokens of the window ourselves (no labels= shift inside the model).
        with amp():
            logits = model(input_ids=window[:, :-1]).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), window[:, 1:].reshape(-1)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise DataError(
                f"training loss became {loss_value} at step {step + 1}; lower training.lr"
            )
        history.append({"step": step + 1, "loss": loss_value, "lr": lr_at(step, s)})
        progress.update()
        if step + 1 in wanted:
            model.eval()
            save(step + 1, model, loss_value)
            model.train()
    progress.done()
    model.eval()
    return history
