"""Benchmark: per-token loss extraction (`lmtraj.scoring.token_nll`) vs lm-evaluation-harness and vs the
previous scorer, side by side in one process, on the same windows.

Workload: the embedded default's per-token losses, read from config.yaml: a GPT-NeoX of its largest
model's shape (Pythia's choices), its vocabulary and context, `corpus.valid_documents` documents of
`corpus.valid_tokens_per_document` tokens, its stride and token budget (`losses.scoring`). Weights are
random (speed does not depend on them); the documents are real text (the corpus fixture, tokenized with
a byte-level BPE of that vocabulary trained on it) and uniformly random token ids. `--d-model`,
`--layers`, `--heads`, `--vocab`, `--stride` set another workload, e.g. an earlier default's gpt-256x4
(`--d-model 256 --heads 8 --vocab 4096 --stride 64`).

Windows, two settings:
- "lm-eval windows": lm-eval's `loglikelihood_rolling` (HFLM, batch 16, max_length context - 1)
  scores every token of a document with an end-of-text prefix, in disjoint windows of context - 1
  predictions; that is `token_nll` on [EOT] + document with stride context - 1 (every model input is
  context - 1 tokens).
- "default stride": the config's context and stride. lm-eval has no strided rolling mode, so it
  scores the very same windows as (context, continuation) token requests through HFLM's own
  `_loglikelihood_tokens` (what its `loglikelihood` runs after tokenizing).

Scorers: `token_nll` (new), `previous_token_nll` (the scorer it replaced, copied below: full logits,
float32 log-softmax) and lm-eval when it is installed (`pip install lm_eval[hf]`; optional, not a
requirement of the workflow). Per-token NLL of new and previous must agree to 1e-5; lm-eval only
returns sums, so its per-document mean NLL must agree to 1e-5. Each scorer runs `--repeats` times,
interleaved, and the fastest run counts (the others are printed): run it on an otherwise idle machine,
and compare ratios rather than seconds.

`--compile` also times "compiled", `token_nll` on a copy of the model under `torch.compile` (static
shapes), and prints its first run, which compiles, apart: measured and not adopted (bench/README.md).

Also timed: "forward", the model's bare forward over the same windows, 16 rows at a time (logits at
every position, no NLL): the floor any scorer of these windows shares (token_nll goes below it only
where it skips unscored positions).

Run: ``.venv/bin/python bench/bench_losses.py`` from the repository root (about a minute on 2 cores
for the default's workload, 2-3 for gpt-256x4's); ``--device cuda`` on a GPU machine.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import default_config  # bench/ is the script's folder, on sys.path
from machine import cpu_and_flags

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))

from lmtraj.checkpoints.model import ModelShape, build_model  # noqa: E402
from lmtraj.device import is_oom  # noqa: E402
from lmtraj.scoring import Window, plan_windows, token_nll  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "corpus"
EOS = "<|endoftext|>"
QUIET = logging.getLogger("bench.quiet")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


# --- the previous scorer (the lmtraj/scoring.py it replaced), verbatim but for its name -----------


def previous_token_nll(model, docs, *, context, stride, token_budget=8192, device="cpu", log=None):
    lengths = [len(d) for d in docs]
    windows = plan_windows(lengths, context, stride)
    out = [np.full(n - 1, np.nan, dtype=np.float32) for n in lengths]
    order = sorted(range(len(windows)), key=lambda i: -(windows[i].end - windows[i].start))
    budget = max(token_budget, context)
    i = 0
    while i < len(order):
        width = windows[order[i]].end - windows[order[i]].start
        rows = max(1, budget // width)
        batch = [windows[j] for j in order[i : i + rows]]
        try:
            _previous_score_batch(model, docs, batch, out, device)
        except RuntimeError as err:
            if device != "cuda" or not is_oom(err) or budget <= width:
                raise
            torch.cuda.empty_cache()
            budget //= 2
            continue
        i += len(batch)
    return out


@torch.inference_mode()
def _previous_score_batch(model, docs, batch: list[Window], out, device: str) -> None:
    width = max(w.end - w.start for w in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, w in enumerate(batch):
        n = w.end - w.start
        ids[r, :n] = torch.as_tensor(docs[w.doc][w.start : w.end], dtype=torch.long)
        mask[r, :n] = 1
    ids, mask = ids.to(device), mask.to(device)
    logits = model(input_ids=ids, attention_mask=mask).logits
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    nll = -logprobs.gather(-1, ids[:, 1:, None]).squeeze(-1).cpu().numpy()
    for r, w in enumerate(batch):
        lo, hi = w.score_from - w.start - 1, w.end - w.start - 1
        out[w.doc][w.score_from - 1 : w.end - 1] = nll[r, lo:hi]


# --- the floor: the model's forward alone ------------------------------------------------------------


@torch.inference_mode()
def bare_forward(model, docs, *, context, stride, rows=16, device="cpu"):
    """The model's forward over the same windows (rows at a time, logits at every position), nothing
    else: the work any scorer of these windows shares; how far each scorer is above it is its overhead."""
    windows = plan_windows([len(d) for d in docs], context, stride)
    windows.sort(key=lambda w: w.start - w.end)
    for i in range(0, len(windows), rows):
        batch = windows[i : i + rows]
        width = max(w.end - w.start - 1 for w in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        for r, w in enumerate(batch):
            ids[r, : w.end - w.start - 1] = torch.as_tensor(docs[w.doc][w.start : w.end - 1])
        model(input_ids=ids.to(device), use_cache=False)


# --- lm-evaluation-harness, fed token ids ------------------------------------------------------------


def make_lmeval(model, tokenizer, batch_size: int, max_length: int, device: str):
    """An HFLM around the model whose rolling requests name pre-tokenized documents; None if absent."""
    try:
        import lm_eval.models.huggingface as hf
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        return None
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    bar = hf.tqdm
    hf.tqdm = lambda *a, **k: bar(*a, **{**k, "disable": True})  # rolling opens one bar per batch

    class TokenIdLM(HFLM):
        """lm-eval's own windowing and scoring; only the tokenization is replaced by a lookup."""

        docs: dict[str, list[int]] = {}

        def tok_encode(self, string, *args, **kwargs):
            if string in self.docs:
                return self.docs[string]
            return super().tok_encode(string, *args, **kwargs)

    lm = TokenIdLM(
        pretrained=model,
        tokenizer=tokenizer,
        batch_size=batch_size,
        max_length=max_length,
        device=device,
    )

    def rolling(docs: list[np.ndarray]) -> np.ndarray:
        """Summed log-likelihood of every token of each document (EOT prefix), lm-eval's rolling mode."""
        lm.docs = {f"doc{i}": [int(t) for t in d] for i, d in enumerate(docs)}
        reqs = [Instance("loglikelihood_rolling", {}, (key,), i) for i, key in enumerate(lm.docs)]
        return np.array(lm.loglikelihood_rolling(reqs, disable_tqdm=True))

    def windows(docs: list[np.ndarray], context: int, stride: int) -> np.ndarray:
        """Summed log-likelihood of tokens 1.. of each document, token_nll's windows as requests."""
        plan = plan_windows([len(d) for d in docs], context, stride)
        reqs = [
            (
                None,
                [int(t) for t in docs[w.doc][w.start : w.score_from]],
                [int(t) for t in docs[w.doc][w.score_from : w.end]],
            )
            for w in plan
        ]
        sums = np.zeros(len(docs))
        for w, (ll, _) in zip(plan, lm._loglikelihood_tokens(reqs, disable_tqdm=True)):
            sums[w.doc] += ll
        return sums

    return rolling, windows


# --- workload ---------------------------------------------------------------------------------------


def text_documents(vocab: int, n_docs: int, doc_tokens: int):
    """Byte-level BPE trained on the corpus fixture; n_docs chunks of doc_tokens tokens of it."""
    from tokenizers import ByteLevelBPETokenizer

    texts = [p.read_text() for p in sorted(CORPUS.glob("*.txt"))]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=vocab, min_frequency=2, special_tokens=[EOS], show_progress=False
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token=EOS, eos_token=EOS, unk_token=EOS
    )
    chunks = []
    for text in texts:
        ids = np.array(tok.backend_tokenizer.encode(text).ids, dtype=np.int64)
        chunks += [ids[i : i + doc_tokens] for i in range(0, len(ids) - doc_tokens + 1, doc_tokens)]
    if len(chunks) < n_docs:
        raise SystemExit(f"the corpus fixture holds {len(chunks)} chunks of {doc_tokens} tokens")
    pick = np.linspace(0, len(chunks) - 1, n_docs).round().astype(int)  # spread over the texts
    return tok, [chunks[i] for i in pick]


def max_token_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Largest per-token |NLL difference| between two scorers' per-document arrays."""
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def machine_line(device: str, threads: int) -> str:
    cpu, flags = cpu_and_flags()
    shown = [
        f
        for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")
        if f in flags
    ]
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
    largest, scoring = default_config.largest_model(cfg), cfg["losses"]["scoring"]
    ap.add_argument("--docs", type=int, default=cfg["corpus"]["valid_documents"])
    ap.add_argument("--doc-tokens", type=int, default=cfg["corpus"]["valid_tokens_per_document"])
    ap.add_argument("--vocab", type=int, default=cfg["tokenizer"]["vocab_size"])
    ap.add_argument("--d-model", type=int, default=largest["d_model"])
    ap.add_argument("--layers", type=int, default=largest["n_layers"])
    ap.add_argument("--heads", type=int, default=largest["n_heads"])
    ap.add_argument("--context", type=int, default=scoring["context"])
    ap.add_argument("--stride", type=int, default=scoring["stride"])
    ap.add_argument("--token-budget", type=int, default=scoring["token_budget"])
    ap.add_argument("--lmeval-batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=1e-5)
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: this process's CPU time, steadier on a busy machine (meaningful with --threads 1)",
    )
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also time token_nll on the model under torch.compile (measured, not adopted)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    tok, text_docs = text_documents(args.vocab, args.docs, args.doc_tokens)
    rng = np.random.default_rng(0)
    random_docs = [rng.integers(0, args.vocab, args.doc_tokens) for _ in range(args.docs)]
    eos = tok.eos_token_id
    shape = ModelShape(args.d_model, args.layers, args.heads, args.context, args.vocab)
    model = build_model(shape, eos, seed=0).eval()
    model = model.to(args.device)
    lmeval = make_lmeval(model, tok, args.lmeval_batch, args.context - 1, args.device)
    compiled = None
    if args.compile:
        # A copy, so the other scorers keep the eager model; one graph per batch shape, no dynamic
        # shapes (they were measured slower still).
        compiled = copy.deepcopy(model)
        compiled.compile(dynamic=False)

    print(machine_line(args.device, args.threads))
    print(
        f"model GPT-NeoX d={args.d_model} L={args.layers} H={args.heads} V={args.vocab} "
        f"ctx={args.context}, random weights, float32, device {args.device}; "
        f"{args.docs} documents x {args.doc_tokens} tokens; "
        f"lm-eval {f'HFLM batch {args.lmeval_batch}' if lmeval else 'not installed'}"
    )
    load = os.getloadavg()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load)}")
    if load[0] > 0.5:
        print(
            f"WARNING: the machine is busy (load {load[0]:.1f} on {os.cpu_count()} CPUs): "
            "these timings are not a quiet-machine measurement"
        )

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    budget = {"token_budget": args.token_budget, "device": args.device}
    failures = []
    for label, docs in (("text", text_docs), ("random ids", random_docs)):
        with_eot = [np.concatenate([[eos], d]) for d in docs]
        settings = [
            (f"lm-eval windows (ctx {args.context}, stride {args.context - 1}, EOT prefix)",
             with_eot, args.context - 1,
             (lambda ds, docs=docs: lmeval[0](docs)) if lmeval else None),
            (f"default stride (ctx {args.context}, stride {args.stride})",
             docs, args.stride,
             (lambda ds: lmeval[1](ds, args.context, args.stride)) if lmeval else None),
        ]  # fmt: skip
        for name, ds, stride, lm_fn in settings:
            scored = sum(len(d) - 1 for d in ds)
            kw = {"context": args.context, "stride": stride}
            scorers = {
                "token_nll": lambda ds=ds, kw=kw: token_nll(model, ds, **kw, **budget, log=QUIET),
                "previous": lambda ds=ds, kw=kw: previous_token_nll(model, ds, **kw, **budget),
            }
            floor = {
                "forward": lambda ds=ds, kw=kw: bare_forward(model, ds, **kw, device=args.device)
            }
            if lm_fn:
                scorers["lm-eval"] = lambda ds=ds, fn=lm_fn: fn(ds)
            small = ds[:2]  # warm-up: allocator, kernels, lazy initialisation
            token_nll(model, small, **kw, **budget, log=QUIET)
            compile_s = None
            if compiled is not None:
                scorers["compiled"] = lambda ds=ds, kw=kw: token_nll(
                    compiled, ds, **kw, **budget, log=QUIET
                )
                t0 = time.perf_counter()
                scorers["compiled"]()  # compiles every batch shape of these windows
                compile_s = time.perf_counter() - t0
            previous_token_nll(model, small, **kw, **budget)
            times: dict[str, list[float]] = {k: [] for k in [*scorers, *floor]}
            results = {}
            for _ in range(args.repeats):  # interleaved, so a noisy moment hits every scorer
                for key, fn in {**scorers, **floor}.items():
                    sync()
                    t0 = clock()
                    results[key] = fn()
                    sync()
                    times[key].append(clock() - t0)

            new, old = results["token_nll"], results["previous"]
            err_old = max_token_diff(new, old)
            print(f"\n[{label}] {name}: {scored:,} scored tokens, {args.repeats} runs each")
            best = {k: min(v) for k, v in times.items()}
            for key, ts in times.items():
                runs = " ".join(f"{t:.2f}" for t in ts)
                others = [o for o in scorers if o != key]
                ratio = "  ".join(f"x{best[o] / best[key]:.2f} vs {o}" for o in others)
                print(
                    f"  {key:10s} {scored / best[key]:9,.0f} tokens/s  "
                    f"(best {best[key]:.2f} s, median {statistics.median(ts):.2f} s; runs {runs})"
                    f"  {ratio}"
                )
            print(f"  max |NLL token_nll - previous| per token: {err_old:.2e} nats")
            if err_old > args.tolerance:
                failures.append(f"{label}/{name}: token_nll vs previous {err_old:.2e}")
            if compile_s is not None:
                err_c = max_token_diff(new, results["compiled"])
                print(
                    f"  compiled: first run (compilation) {compile_s:.1f} s; max |NLL compiled - "
                    f"token_nll| per token: {err_c:.2e} nats"
                )
                if err_c > args.tolerance:
                    failures.append(f"{label}/{name}: compiled vs token_nll {err_c:.2e}")
            if "lm-eval" in results:
                ours = np.array([-np.sum(a, dtype=np.float64) for a in new])
                err_lm = float(np.max(np.abs(ours - results["lm-eval"]) / [len(a) for a in new]))
                print(f"  max |mean NLL token_nll - lm-eval| per document: {err_lm:.2e} nats")
                if err_lm > args.tolerance:
                    failures.append(f"{label}/{name}: token_nll vs lm-eval {err_lm:.2e}")
                goal = best["lm-eval"] / best["token_nll"]
                spread = max(max(v) / min(v) for v in times.values())
                verdict = "met" if goal >= 1.5 else "NOT met"
                if spread > 1.25:  # a scorer's runs differ by > 25%: something else ran meanwhile
                    verdict = (
                        f"not measured (runs differ up to x{spread:.2f}: rerun on an idle machine)"
                    )
                print(f"  goal >= 1.5x lm-eval: {verdict} (x{goal:.2f})")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if failures:
        raise SystemExit("NLL disagree beyond tolerance:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
