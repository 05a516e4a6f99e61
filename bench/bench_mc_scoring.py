"""Benchmark: multiple-choice option scoring, shared-prefix batched scorer vs one forward pass per option.

Workload: every item of the BIG-bench fixture tasks (tests/fixtures/bigbench: 5 real tasks, 182 items,
2-shot BIG-bench prompts, 2-7 options each), tokenized with a byte-level BPE trained on the corpus
fixture, scored by a random GPT-NeoX (Pythia-style shape). The naive reference is the textbook loop:
for every (prompt, option) one unbatched forward pass over prompt + option. The scorer under test is
`lmtraj.bigbench.option_scoring.option_logprobs` in "packed" mode (context once per item, all options in the same
row, batched by a token budget); "separate" mode (batched, one row per option) is timed as well, to
separate the gain from batching from the gain from sharing the prompt. All three must give the same
log-likelihoods.

Run: ``PYTHONPATH=workflow_scripts python bench/bench_mc_scoring.py`` (1-5 minutes on 2 cores, most of it in the naive loop);
``--device cuda`` on a GPU machine.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from lmtraj.bigbench.option_scoring import option_logprobs
from lmtraj.bigbench.prompts import build_items, encode_item
from lmtraj.bigbench.sdist import load_task
from lmtraj.tokenizer import train_bpe

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "tests" / "fixtures" / "bigbench"


def naive(model, contexts, options, device) -> list[np.ndarray]:
    out = []
    with torch.inference_mode():
        for ctx, opts in zip(contexts, options):
            sums = []
            for opt in opts:
                ids = torch.as_tensor(np.concatenate([ctx, opt]), device=device)[None]
                logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
                n = len(ctx)
                pos = torch.arange(n - 1, n - 1 + len(opt), device=device)
                sums.append(float(logp[pos, torch.as_tensor(opt, device=device)].double().sum()))
            out.append(np.array(sums))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument(
        "--context", type=int, default=512, help="model positions; prompts are fitted to it"
    )
    ap.add_argument("--token-budget", type=int, default=8192)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--items", type=int, default=None, help="score N items spread over the tasks")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    corpus = [p.read_text() for p in sorted((ROOT / "tests" / "fixtures" / "corpus").glob("*.txt"))]
    tok = train_bpe(corpus, args.vocab)
    encode = lambda text: tok.backend_tokenizer.encode(text, add_special_tokens=False).ids  # noqa: E731
    items = []
    for task_dir in sorted(p.parent for p in TASKS.glob("*/task.json")):
        items += build_items(load_task(task_dir), task_dir.name, shots=2)
    if args.items:  # an even spread over the tasks
        items = items[:: max(1, len(items) // args.items)][: args.items]
    encoded = [encode_item(it, encode, args.context, tok.eos_token_id) for it in items]
    contexts = [e.context_ids for e in encoded]
    options = [list(e.option_ids) for e in encoded]
    n_opt = sum(len(o) for o in options)
    naive_tokens = sum(len(c) * len(o) + sum(map(len, o)) for c, o in zip(contexts, options))
    packed_tokens = sum(len(c) + sum(map(len, o)) for c, o in zip(contexts, options))

    torch.manual_seed(0)
    cfg = GPTNeoXConfig(
        vocab_size=len(tok),
        hidden_size=args.d_model,
        num_hidden_layers=args.layers,
        num_attention_heads=4,
        intermediate_size=4 * args.d_model,
        max_position_embeddings=args.context,
        rotary_pct=0.25,
    )
    model = GPTNeoXForCausalLM(cfg).eval().to(args.device)

    def timed(fn):
        if args.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if args.device == "cuda":
            torch.cuda.synchronize()
        return out, time.perf_counter() - t0

    quiet = logging.getLogger("quiet")
    naive(model, contexts[:3], options[:3], args.device)  # warm-up (allocator, kernels, lazy init)
    option_logprobs(model, contexts[:3], options[:3], mode="packed", device=args.device, log=quiet)
    kw = {"token_budget": args.token_budget, "device": args.device, "log": quiet}
    ref, t_naive = timed(lambda: naive(model, contexts, options, args.device))
    packed, t_packed = timed(lambda: option_logprobs(model, contexts, options, mode="packed", **kw))
    separate, t_sep = timed(
        lambda: option_logprobs(model, contexts, options, mode="separate", **kw)
    )
    err_p = max(float(np.abs(a - b).max()) for a, b in zip(packed, ref))
    err_s = max(float(np.abs(a - b).max()) for a, b in zip(separate, ref))

    print(
        f"{len(items)} items, {n_opt} options; model d={args.d_model} L={args.layers} V={len(tok)} "
        f"ctx={args.context}, device {args.device}, {args.threads} threads"
    )
    print(
        f"tokens run: naive {naive_tokens:,} (prompt repeated per option), packed {packed_tokens:,}"
    )
    print(f"naive loop (1 forward per option) : {t_naive:7.2f} s  {n_opt / t_naive:8.1f} options/s")
    print(
        f"separate rows, batched             : {t_sep:7.2f} s  {n_opt / t_sep:8.1f} options/s  x{t_naive / t_sep:.1f}"
    )
    print(
        f"packed (shared prompt), batched    : {t_packed:7.2f} s  {n_opt / t_packed:8.1f} options/s  x{t_naive / t_packed:.1f}"
    )
    print(
        f"max |log-likelihood difference| vs naive: packed {err_p:.2e}, separate {err_s:.2e} nats"
    )
    tol = 1e-3 if args.device == "cpu" else 5e-2
    assert err_p < tol and err_s < tol, "scorers disagree with the naive loop"


if __name__ == "__main__":
    main()
