"""Benchmark: multiple-choice option scoring (`lmtraj.bigbench.option_scoring.option_logprobs`) vs
lm-evaluation-harness's `loglikelihood` and vs the previous scorer, side by side in one process, on the
same (context, option) token requests.

Workload: the embedded default's BIG-bench stage on its largest model's shape, read from config.yaml
(GPT-NeoX, Pythia's choices, random weights: speed does not depend on them; `--d-model`, `--layers`,
`--heads`, `--vocab` for another shape): the BIG-bench tasks of config.yaml that data/bigbench
holds (real task.json files) capped at its max_examples, plus its corpus-derived tasks (n_items each)
built from the corpus fixture, BIG-bench k-shot prompts fitted to the model's context (128), tokenized
with a byte-level BPE of the default's vocabulary size trained on the corpus fixture.

Scorers:
- "lm-eval": HFLM's `_loglikelihood_tokens` (what its `loglikelihood` runs after tokenizing) on one
  request per (context, option), batch `--lmeval-batch`, its defaults otherwise (one-token
  continuations of a shared context are computed once: its logits cache);
- "previous": the packed scorer it replaced (copied below: full logits from the shortest context on,
  float32 log-softmax over the vocabulary, token budget 16384);
- "packed": `option_logprobs(mode="packed")` at the token budget of config.yaml (`--token-budget`);
  `--budgets` also times other budgets, to choose it by measurement (config.yaml's 2048 was chosen so);
- "kv-cache" (`--kv-cache`): contexts first with a key/value cache, then the options on it
  (bench/mc_kv_cache.py), the alternative that was measured slower and not adopted.
Summed log-likelihoods must agree with lm-eval's to `--tolerance` nats per option token. Each scorer
runs `--repeats` times, interleaved, and the fastest run counts (the others are printed): compare ratios,
not seconds, on a shared machine.

Run: ``.venv/bin/python bench/bench_mc_scoring.py`` (about a minute on 2 cores; lm-eval is optional,
``pip install lm_eval[hf]``); ``--device cuda`` on a GPU machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import default_config  # bench/ is the script's folder, on sys.path
from machine import cpu_and_flags

os.environ.setdefault("TQDM_DISABLE", "1")  # lm-eval opens a progress bar per batch
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))

from mc_kv_cache import kv_cache_option_logprobs  # noqa: E402  (imports lmtraj)

from lmtraj.bigbench.corpus_tasks import build_corpus_tasks  # noqa: E402
from lmtraj.bigbench.option_scoring import option_logprobs  # noqa: E402
from lmtraj.bigbench.prompts import build_items, encode_items  # noqa: E402
from lmtraj.bigbench.sdist import load_task  # noqa: E402
from lmtraj.bigbench.sdist_tasks import BUNDLED_DIR  # noqa: E402
from lmtraj.checkpoints.model import ModelShape, build_model  # noqa: E402
from lmtraj.tokenizer import train_bpe  # noqa: E402

TASKS = ROOT / BUNDLED_DIR
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
QUIET = logging.getLogger("bench.quiet")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


# --- the previous scorer (the lmtraj/bigbench/option_scoring.py it replaced), packed mode only ------


@torch.inference_mode()
def _previous_score_batch(model, batch, device):
    width = max(len(r[0]) for r in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    seg = torch.full((len(batch), width), -1, dtype=torch.long)
    pos = torch.zeros((len(batch), width), dtype=torch.long)
    for r, (i, s, p, _) in enumerate(batch):
        ids[r, : len(i)] = torch.from_numpy(i)
        seg[r, : len(i)] = torch.from_numpy(s)
        pos[r, : len(i)] = torch.from_numpy(p)
    ids, seg, pos = ids.to(device), seg.to(device), pos.to(device)
    dtype = next(model.parameters()).dtype
    causal = torch.ones((width, width), dtype=torch.bool, device=device).tril()
    seg_q, seg_k = seg[:, :, None], seg[:, None, :]
    allowed = causal & (((seg_k == 0) & (seg_q >= 0)) | (seg_k == seg_q))
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    table = np.concatenate([r[3] for r in batch])
    row = np.concatenate([np.full(len(r[3]), k) for k, r in enumerate(batch)])
    offset = int(table[:, 1].min())
    logits = model(
        input_ids=ids, attention_mask=mask[:, None], position_ids=pos, logits_to_keep=width - offset
    ).logits
    r_t = torch.from_numpy(row).to(device)
    pred = logits[r_t, torch.from_numpy(table[:, 1] - offset).to(device)].float()
    target = ids[r_t, torch.from_numpy(table[:, 2]).to(device)]
    logprob = torch.log_softmax(pred, dim=-1).gather(-1, target[:, None]).squeeze(-1)
    return table[:, 0], logprob.cpu().numpy()


def previous_option_logprobs(model, contexts, options, token_budget=16384, device="cpu"):
    rows, first = [], np.cumsum([0] + [len(o) for o in options])
    for i, (ctx, opts) in enumerate(zip(contexts, options)):
        n = len(ctx)
        ids = np.concatenate([ctx, *opts])
        seg = np.concatenate(
            [np.zeros(n, np.int64)] + [np.full(len(o), j + 1) for j, o in enumerate(opts)]
        )
        pos = np.concatenate([np.arange(n)] + [n + np.arange(len(o)) for o in opts])
        starts = n + np.cumsum([0] + [len(o) for o in opts[:-1]])
        table = []
        for j, (start, o) in enumerate(zip(starts, opts)):
            tgt = start + np.arange(len(o))
            pred = np.concatenate([[n - 1], tgt[:-1]])
            table.append(np.stack([np.full(len(o), first[i] + j), pred, tgt], axis=1))
        rows.append((ids, seg, pos, np.concatenate(table)))
    rows.sort(key=lambda r: -len(r[0]))
    sums = np.zeros(first[-1], dtype=np.float64)
    i = 0
    while i < len(rows):
        batch = rows[i : i + max(1, token_budget // len(rows[i][0]))]
        idx, lp = _previous_score_batch(model, batch, device)
        sums += np.bincount(idx, weights=lp.astype(np.float64), minlength=len(sums))
        i += len(batch)
    return [sums[first[k] : first[k + 1]] for k in range(len(options))]


# --- lm-evaluation-harness, fed token ids ------------------------------------------------------------


def make_lmeval(model, tokenizer, batch_size: int, max_length: int, device: str):
    """lm-eval's loglikelihood on (context, option) token requests; None if lm-eval is absent."""
    try:
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        return None
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    lm = HFLM(
        pretrained=model,
        tokenizer=tokenizer,
        batch_size=batch_size,
        max_length=max_length,
        device=device,
    )

    def score(contexts, options) -> list[np.ndarray]:
        reqs = [
            (None, [int(t) for t in c], [int(t) for t in o])
            for c, opts in zip(contexts, options)
            for o in opts
        ]
        flat = [ll for ll, _ in lm._loglikelihood_tokens(reqs, disable_tqdm=True)]
        bounds = np.cumsum([0] + [len(o) for o in options])
        return [np.array(flat[bounds[k] : bounds[k + 1]]) for k in range(len(options))]

    return score


# --- workload ---------------------------------------------------------------------------------------


def workload(vocab: int, context: int):
    """(tokenizer, contexts, options, {task: items}) of the default's BIG-bench stage on its bundled tasks."""
    cfg = default_config.load()
    bb = cfg["bigbench"]
    texts = [p.read_text() for p in sorted(CORPUS.glob("*.txt"))]
    tok = train_bpe(texts, vocab)
    items = []
    names = [t for t in bb["tasks"] if (TASKS / t / "task.json").exists()]
    for name in names:
        items += build_items(
            load_task(TASKS / name),
            name,
            shots=bb["shots"],
            seed=bb["seed"],
            cap=bb["max_examples"],
        )
    ct = bb["corpus_tasks"]
    corpus_tasks = build_corpus_tasks(
        texts,
        ct["types"],
        n_items=ct["n_items"],
        n_choices=ct["n_choices"],
        prefix_words=ct["prefix_words"],
        continuation_words=ct["continuation_words"],
        seed=cfg["seed"],
    )
    for name, task in corpus_tasks.items():
        items += build_items(task, name, shots=bb["shots"], seed=bb["seed"])
    backend = tok.backend_tokenizer
    kept, encoded, _ = encode_items(
        items,
        lambda text: backend.encode(text, add_special_tokens=False).ids,
        context,
        tok.eos_token_id,
    )
    per_task: dict[str, int] = {}
    for it in kept:
        per_task[it.task] = per_task.get(it.task, 0) + 1
    return (
        tok,
        [e.context_ids for e in encoded],
        [list(e.option_ids) for e in encoded],
        per_task,
    )


def machine_line(device: str, threads: int) -> str:
    cpu, flags = cpu_and_flags()
    shown = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    line = (
        f"CPU {cpu}, {os.cpu_count()} logical CPUs, flags {' '.join(shown) or '?'}; "
        f"torch {torch.__version__} ({threads} threads)"
    )
    if device == "cuda":
        line += f"; GPU {torch.cuda.get_device_name()}"
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    cfg = default_config.load()
    largest = default_config.largest_model(cfg)
    ap.add_argument("--vocab", type=int, default=cfg["tokenizer"]["vocab_size"])
    ap.add_argument("--d-model", type=int, default=largest["d_model"])
    ap.add_argument("--layers", type=int, default=largest["n_layers"])
    ap.add_argument("--heads", type=int, default=largest["n_heads"])
    ap.add_argument("--context", type=int, default=cfg["training"]["context"])
    ap.add_argument(
        "--token-budget",
        type=int,
        default=cfg["bigbench"]["scoring"]["token_budget"],
        help="the packed scorer's budget (default: config.yaml's)",
    )
    ap.add_argument("--budgets", default="", help="extra budgets to time, e.g. 2048,4096,8192")
    ap.add_argument(
        "--kv-cache",
        action="store_true",
        help="also time the two-phase key/value-cache scorer (bench/mc_kv_cache.py, not adopted)",
    )
    ap.add_argument("--lmeval-batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=1e-5, help="nats per option token")
    ap.add_argument("--goal", type=float, default=5.0, help="packed vs lm-eval")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    tok, contexts, options, per_task = workload(args.vocab, args.context)
    shape = ModelShape(args.d_model, args.layers, args.heads, args.context, len(tok))
    model = build_model(shape, tok.eos_token_id, seed=0).eval().to(args.device)
    lmeval = make_lmeval(model, tok, args.lmeval_batch, args.context, args.device)
    n_opt = sum(len(o) for o in options)
    n_tok = sum(len(x) for o in options for x in o)
    lm_tokens = sum(len(c) * len(o) + sum(map(len, o)) for c, o in zip(contexts, options))
    packed_tokens = sum(len(c) + sum(map(len, o)) for c, o in zip(contexts, options))

    print(machine_line(args.device, args.threads))
    print(
        f"model GPT-NeoX d={args.d_model} L={args.layers} H={args.heads} V={len(tok)} "
        f"ctx={args.context}, random weights, float32, device {args.device}; "
        f"lm-eval {f'HFLM batch {args.lmeval_batch}' if lmeval else 'not installed'}"
    )
    print(
        f"{len(contexts)} items ({', '.join(f'{k} {v}' for k, v in per_task.items())}), "
        f"{n_opt} options, {n_tok} option tokens; tokens run: one row per option "
        f"{lm_tokens:,}, packed {packed_tokens:,}"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    dev = args.device
    scorers = {
        "packed": lambda: option_logprobs(
            model, contexts, options, token_budget=args.token_budget, device=dev, log=QUIET
        ),
        "previous": lambda: previous_option_logprobs(model, contexts, options, device=dev),
    }
    for b in [int(x) for x in args.budgets.split(",") if x.strip()]:
        if b != args.token_budget:
            scorers[f"packed@{b}"] = lambda b=b: option_logprobs(
                model, contexts, options, token_budget=b, device=dev, log=QUIET
            )
    if args.kv_cache:
        scorers["kv-cache"] = lambda: kv_cache_option_logprobs(
            model, contexts, options, token_budget=args.token_budget, device=dev
        )
    if lmeval:
        scorers["lm-eval"] = lambda: lmeval(contexts, options)
    # Warm-up: allocator, kernels, lazy initialisation.
    option_logprobs(model, contexts[:8], options[:8], device=dev, log=QUIET)
    previous_option_logprobs(model, contexts[:8], options[:8], device=dev)
    if lmeval:
        lmeval(contexts[:8], options[:8])
    times: dict[str, list[float]] = {k: [] for k in scorers}
    results = {}
    for _ in range(args.repeats):  # interleaved, so a noisy moment hits every scorer
        for key, fn in scorers.items():
            sync()
            t0 = time.perf_counter()
            results[key] = fn()
            sync()
            times[key].append(time.perf_counter() - t0)

    best = {k: min(v) for k, v in times.items()}
    print(f"\n{args.repeats} runs each, fastest counts (budget of 'packed': {args.token_budget})")
    for key, ts in times.items():
        runs = " ".join(f"{t:.2f}" for t in ts)
        ratio = "  ".join(f"x{best[o] / best[key]:.2f} vs {o}" for o in times if o != key)
        print(
            f"  {key:14s} {n_opt / best[key]:8,.0f} options/s  (best {best[key]:.2f} s, median "
            f"{statistics.median(ts):.2f} s; runs {runs})  {ratio}"
        )
    lengths = [np.array([len(x) for x in o]) for o in options]
    reference = "lm-eval" if lmeval else "previous"
    failures = []
    for key in results:
        if key == reference:
            continue
        err = max(
            float(np.max(np.abs(a - b) / n))
            for a, b, n in zip(results[key], results[reference], lengths)
        )
        print(f"  max |log-likelihood {key} - {reference}| per option token: {err:.2e} nats")
        if err > args.tolerance:
            failures.append(f"{key} vs {reference}: {err:.2e}")
    if lmeval:
        ratio = best["lm-eval"] / best["packed"]
        met = "met" if ratio >= args.goal else "NOT met"
        print(f"  goal >= {args.goal:g}x lm-eval: {met} (x{ratio:.2f})")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if failures:
        raise SystemExit("log-likelihoods disagree beyond tolerance:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
