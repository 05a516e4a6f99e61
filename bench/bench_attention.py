"""Benchmark: the attention kernel at the embedded default's head dimension, on CPU, side by side.

The scorers' forward spends a large share of its time in attention although attention is a small share
of its arithmetic: the default's heads have 16 dimensions, so each query-key pair costs 32
multiply-adds and one exponential, and the kernel is bound by the softmax, not by matrix products.
This measures, at config.yaml's largest model (heads, head dimension) and both scoring layouts, how
PyTorch's kernels compare with an explicit one:

- "sdpa": `scaled_dot_product_attention` as transformers calls it (on CPU the flash kernel), the
  workflow's choice;
- "math": SDPA's reference backend;
- "explicit": baddbmm (scale and mask fused) -> softmax -> bmm over all heads of a few rows at a time;
- "explicit/qb": the same in query blocks of `--query-block` positions, each against only the keys it
  may see (causal windows only: the masked upper triangle's exponentials are skipped).

Workloads: "loss windows" (`--rows` windows of context - 1 positions, causal: `lmtraj.scoring`'s
batches) and "packed options" (`lmtraj.bigbench.option_scoring`'s rows: a context followed by
`--options` options, a 4-D additive mask that lets each option see the context and itself only).
Then "forward": the whole model (random weights) on the loss windows with transformers' SDPA against
the explicit kernel registered through transformers' `AttentionInterface`: what a swap would give the
scorers. Outputs must agree to `--tolerance`. Each kernel runs `--repeats` times per thread count,
interleaved, best counts.

Measured and not adopted (bench/README.md): which kernel wins depends on the machine, and a choice per
machine changes the last digits of every table.

Run: ``.venv/bin/python bench/bench_attention.py`` from the repository root (about 20 s on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import default_config  # bench/ is the script's folder, on sys.path
import torch
import torch.nn.functional as F
from machine import cpu_and_flags
from torch.nn.attention import SDPBackend, sdpa_kernel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))

from lmtraj.bigbench.option_scoring import packed_attention_mask  # noqa: E402
from lmtraj.checkpoints.model import ModelShape, build_model  # noqa: E402

EXPLICIT = "bench_explicit"


def explicit(q, k, v, bias, scale, chunk=24):
    """softmax(q k^T * scale + bias) v over [rows, heads, positions, dim], `chunk` row-heads at a time
    (their scores stay in cache); bias is [positions, positions] or [rows, 1, positions, positions]."""
    rows, heads, tq, dim = q.shape
    tk = k.shape[2]
    qq, kk, vv = (x.reshape(rows * heads, -1, dim) for x in (q, k, v))
    out = torch.empty(rows * heads, tq, dim, dtype=q.dtype)
    per_row = bias.dim() == 4
    chunk = max(heads, chunk - chunk % heads)  # whole rows, so a row's mask serves all its heads
    for i in range(0, rows * heads, chunk):
        n = min(chunk, rows * heads - i)
        if per_row:
            r = i // heads
            b = bias[r : r + n // heads].expand(-1, heads, tq, tk).reshape(n, tq, tk)
        else:
            b = bias.expand(n, tq, tk)
        s = torch.baddbmm(b, qq[i : i + n], kk[i : i + n].transpose(1, 2), alpha=scale)
        torch.bmm(torch.softmax(s, -1), vv[i : i + n], out=out[i : i + n])
    return out.view(rows, heads, tq, dim)


def explicit_query_blocks(q, k, v, causal_bias, scale, block):
    """`explicit` for causal attention in query blocks, each against the keys up to its last query."""
    rows, heads, tq, dim = q.shape
    qq, kk, vv = (x.reshape(rows * heads, -1, dim) for x in (q, k, v))
    out = torch.empty(rows * heads, tq, dim, dtype=q.dtype)
    for a in range(0, tq, block):
        b = min(tq, a + block)
        s = torch.baddbmm(
            causal_bias[a:b, :b].expand(rows * heads, b - a, b),
            qq[:, a:b],
            kk[:, :b].transpose(1, 2),
            alpha=scale,
        )
        torch.bmm(torch.softmax(s, -1), vv[:, :b], out=out[:, a:b])
    return out.view(rows, heads, tq, dim)


def causal_bias(n: int) -> torch.Tensor:
    return torch.zeros(n, n).masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))


def packed_bias(rows: int, context: int, options: int, option_len: int) -> torch.Tensor:
    """option_scoring's packed mask of `rows` rows of a context followed by options of one length."""
    seg = torch.tensor([0] * context + [o + 1 for o in range(options) for _ in range(option_len)])
    return packed_attention_mask(seg.expand(rows, -1), torch.float32)


def qkv_layout(rows, heads, positions, dim, seed=0):
    """q, k, v as GPT-NeoX hands them over: views of one [rows, positions, heads, 3 x dim] projection."""
    g = torch.Generator().manual_seed(seed)
    qkv = torch.randn(rows, positions, heads, 3 * dim, generator=g).transpose(1, 2)
    q, k, v = qkv.chunk(3, dim=-1)
    return q.contiguous(), k.contiguous(), v  # rotary leaves q and k contiguous, v a view


def best_ms(fn, repeats: int, inner: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best * 1e3


def register_explicit() -> None:
    """The explicit kernel as a transformers attention implementation, with SDPA's mask creation."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kw):
        n = query.shape[2]
        if attention_mask is None:
            bias = causal_bias(n)
        elif attention_mask.dtype == torch.bool:
            bias = torch.zeros(attention_mask.shape).masked_fill(~attention_mask, float("-inf"))
        else:
            bias = attention_mask
        return explicit(query, key, value, bias, scaling).transpose(1, 2), None

    AttentionInterface.register(EXPLICIT, attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(EXPLICIT, sdpa_mask)


def report(label: str, times: dict[str, float], errors: dict[str, float]) -> None:
    base = times["sdpa"]
    for key, ms in times.items():
        err = f"  max |diff| {errors[key]:.1e}" if key in errors else ""
        print(f"  {label:6s} {key:12s} {ms:8.3f} ms  x{base / ms:.2f} vs sdpa{err}")


def main() -> None:
    cfg = default_config.load()
    largest = default_config.largest_model(cfg)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2", help="thread counts to time, e.g. 1,2")
    ap.add_argument("--d-model", type=int, default=largest["d_model"])
    ap.add_argument("--layers", type=int, default=largest["n_layers"])
    ap.add_argument("--heads", type=int, default=largest["n_heads"])
    ap.add_argument("--vocab", type=int, default=cfg["tokenizer"]["vocab_size"])
    ap.add_argument("--context", type=int, default=cfg["losses"]["scoring"]["context"])
    ap.add_argument("--rows", type=int, default=16, help="loss windows per batch")
    ap.add_argument("--options", type=int, default=4, help="options per packed row")
    ap.add_argument("--query-block", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tolerance", type=float, default=1e-5)
    args = ap.parse_args()

    dim = args.d_model // args.heads
    scale = dim**-0.5
    n = args.context - 1
    cpu, flags = cpu_and_flags()
    simd = " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags)
    print(f"CPU {cpu}, {os.cpu_count()} logical CPUs, flags {simd}; torch {torch.__version__}")
    print(f"heads {args.heads} x dimension {dim}; load average {os.getloadavg()[0]:.2f}")

    q, k, v = qkv_layout(args.rows, args.heads, n, dim)
    cb = causal_bias(n)
    ctx = args.context - 1 - args.options * 8  # packed row: context then options of 8 tokens
    pq, pk, pv = qkv_layout(args.rows, args.heads, ctx + args.options * 8, dim, seed=1)
    pb = packed_bias(args.rows, ctx, args.options, 8)

    def math(*a, **kw):
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(*a, **kw)

    loss = {
        "sdpa": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale),
        "math": lambda: math(q, k, v, is_causal=True, scale=scale),
        "explicit": lambda: explicit(q, k, v, cb, scale),
        "explicit/qb": lambda: explicit_query_blocks(q, k, v, cb, scale, args.query_block),
    }
    packed = {
        "sdpa": lambda: F.scaled_dot_product_attention(pq, pk, pv, attn_mask=pb, scale=scale),
        "math": lambda: math(pq, pk, pv, attn_mask=pb, scale=scale),
        "explicit": lambda: explicit(pq, pk, pv, pb, scale),
    }
    register_explicit()
    model = build_model(
        ModelShape(args.d_model, args.layers, args.heads, args.context, args.vocab), 0, 0
    )
    model.eval()
    ids = torch.randint(0, args.vocab, (args.rows, n), generator=torch.Generator().manual_seed(2))

    def forward(impl):
        model.config._attn_implementation = impl
        return model(input_ids=ids, use_cache=False).logits

    whole = {"sdpa": lambda: forward("sdpa"), "explicit": lambda: forward(EXPLICIT)}
    failures = []
    with torch.inference_mode():
        errors = {}
        for label, kernels in (("loss", loss), ("packed", packed), ("model", whole)):
            ref = kernels["sdpa"]()
            for key, fn in kernels.items():
                errors[label, key] = float((fn() - ref).abs().max())
                if errors[label, key] > args.tolerance:
                    failures.append(f"{label} {key}: {errors[label, key]:.2e}")
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            print(f"\n{threads} thread(s), best of {args.repeats}")
            for label, kernels, what in (
                ("loss", loss, f"{args.rows} causal windows x {n} positions"),
                ("packed", packed, f"{args.rows} packed rows x {pq.shape[2]} positions, 4-D mask"),
                (
                    "model",
                    whole,
                    f"forward of d={args.d_model} L={args.layers} on the loss windows",
                ),
            ):
                inner = 2 if label == "model" else 10
                times = {key: best_ms(fn, args.repeats, inner) for key, fn in kernels.items()}
                print(f" {what}")
                report(label, times, {key: e for (lab, key), e in errors.items() if lab == label})
    print(f"\nload average after {os.getloadavg()[0]:.2f}")
    if failures:
        raise SystemExit("kernels disagree beyond tolerance: " + "; ".join(failures))


if __name__ == "__main__":
    main()
