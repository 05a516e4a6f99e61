#!/usr/bin/env bash
# GPU proof of the scoring core, one script: it prints every check and exits non-zero if one fails.
#
#   bash bench/gpu_check.sh          # CUDA machine: smoke workflow with gpus: 1, then every check on the GPU
#   bash bench/gpu_check.sh --cpu    # no CUDA needed: the same checks on the CPU, without the workflow run
#                                    # (tiny random models instead of the smoke run's checkpoints; 1-3 minutes)
#
# What it checks and prints:
#  1. the smoke config (config/smoke.yaml) run end to end with gpus: 1 (every model-running job on CUDA),
#     and tokens/s (or rows/s, steps/s) per stage, read from the jobs' logs;
#  2. per-token NLL of the run (weights in bf16/fp16 with float32 log-probabilities, the default
#     dtype: auto) against the same checkpoints rescored on the CPU in float32; then token_nll with
#     float32, bfloat16 and float16 weights on the device against the CPU float32 numbers. Tolerances
#     (max and mean |NLL difference| per token, nats) are the TOL table below, printed with each result;
#  3. out-of-memory halving: a token budget that does not fit (GPU memory capped for the test; on the
#     CPU, a simulated CUDA out-of-memory error), which must halve the budget and give the same NLL;
#  4. token_nll tokens/s on a scoring workload (an earlier default's gpt-256x4 shape, 48 x 512 tokens)
#     per dtype and token budget, to choose the budget per device.
#
# Environment: PYTHON (default .venv/bin/python, else python3) with the project's requirements
# (snakemake only for the workflow run); WORKDIR (default: a new temporary directory); CORES (default nproc);
# SMOKE_RUN: the directory of a finished smoke run to check instead of running the workflow (with --cpu,
# a CPU run: its jobs must then have run on the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=$(command -v python3)
MODE=gpu
if [ "${1:-}" = "--cpu" ]; then MODE=cpu; elif [ -n "${1:-}" ]; then
    echo "usage: bash bench/gpu_check.sh [--cpu]" >&2
    exit 2
fi
WORKDIR=${WORKDIR:-$(mktemp -d)}
CORES=${CORES:-$(nproc)}
export PYTHONPATH="$ROOT/workflow_scripts${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false

echo "== environment"
"$PY" -c 'import sys, torch, transformers
print("python", sys.version.split()[0], "| torch", torch.__version__, "| transformers", transformers.__version__)
print("CUDA available:", torch.cuda.is_available(), "|", torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")'
if [ "$MODE" = gpu ]; then
    "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || {
        echo "FAIL: CUDA is not available (use --cpu for the CPU parts)" >&2
        exit 1
    }
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi

RUN=${SMOKE_RUN:-}
if [ "$MODE" = gpu ] && [ -z "$RUN" ]; then
    echo "== smoke workflow with gpus: 1 ($CORES cores, in $WORKDIR/smoke)"
    start=$(date +%s)
    "$PY" -m snakemake -s "$ROOT/Snakefile" --directory "$WORKDIR/smoke" \
        --configfile "$ROOT/config/smoke.yaml" --config gpus=1 --cores "$CORES" --quiet rules \
        >"$WORKDIR/smoke.log" 2>&1 || {
        tail -n 60 "$WORKDIR/smoke.log"
        echo "FAIL: the smoke workflow failed (log: $WORKDIR/smoke.log)" >&2
        exit 1
    }
    echo "smoke workflow: $(($(date +%s) - start)) s"
    RUN=$WORKDIR/smoke
fi

echo "== checks on $MODE"
exec "$PY" - "$MODE" "$ROOT" "$RUN" <<'PYTHON'
import copy
import logging
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import yaml
from transformers import AutoModelForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM

from lmtraj import scoring
from lmtraj.scoring import token_nll

mode, root, run = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
run = Path(run) if run else None
device = "cuda" if mode == "gpu" else "cpu"
torch.backends.cuda.matmul.allow_tf32 = False  # float32 on the GPU means float32 (torch's default)
# Largest allowed (max, mean) |NLL - CPU float32 NLL| per token, nats, by weights' dtype. The NLL is always
# taken in float32; the error is that of the weights and activations (bf16: 8 mantissa bits, fp16: 11).
# Measured on the CPU with the smoke models: bf16 max 5e-3 / mean 1e-3, fp16 6e-4 / 1.4e-4.
TOL = {
    torch.float32: (1e-4, 1e-5),
    torch.float16: (0.02, 0.002),
    torch.bfloat16: (0.1, 0.01),
}
DTYPES = {"torch.float32": torch.float32, "torch.bfloat16": torch.bfloat16, "torch.float16": torch.float16}
failures = []


def check(ok: bool, what: str) -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        failures.append(what)


def compare(got: list[np.ndarray], ref: list[np.ndarray], dtype: torch.dtype, what: str) -> None:
    got_all, ref_all = np.concatenate(got), np.concatenate(ref)
    bad = [a.dtype for a in got if a.dtype != np.float32]
    check(not bad and np.isfinite(got_all).all(), f"{what}: float32 and finite")
    diff = np.abs(got_all.astype(np.float64) - ref_all)
    tmax, tmean = TOL[dtype]
    check(
        diff.max() <= tmax and diff.mean() <= tmean,
        f"{what}: max |dNLL| {diff.max():.2e} (<= {tmax:g}), mean {diff.mean():.2e} (<= {tmean:g}) nats",
    )


def sync() -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn):
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - t0


def neox(vocab, d, layers, heads, context, seed=0):
    torch.manual_seed(seed)
    cfg = GPTNeoXConfig(
        vocab_size=vocab, hidden_size=d, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * d, max_position_embeddings=context, rotary_pct=0.25,
        use_parallel_residual=True, tie_word_embeddings=False,
    )
    cfg._attn_implementation = "sdpa"
    return GPTNeoXForCausalLM(cfg).eval()


smoke = yaml.safe_load((root / "config" / "smoke.yaml").read_text())
context, stride = smoke["losses"]["scoring"]["context"], smoke["losses"]["scoring"]["stride"]
budget = smoke["losses"]["scoring"]["token_budget"]
quiet = logging.getLogger("gpu_check.quiet")
quiet.addHandler(logging.NullHandler())
quiet.propagate = False

# --- 1. per-stage rates of the workflow run -----------------------------------------------------------
if run is not None:
    print("-- tokens/s per stage (last progress line of each job's log; median over jobs)")
    rates, devices = defaultdict(list), defaultdict(set)
    for log in sorted((run / "logs").rglob("*.log")):
        text = log.read_text(errors="replace")
        rule = log.relative_to(run / "logs").parts[1].removesuffix(".log")
        found = re.findall(r"\(100%\), ([\d.]+) (\w+)/s", text)
        if found:
            rates[(rule, found[-1][1])].append(float(found[-1][0]))
        devices[rule].update(re.findall(r"INFO device (\w+),", text))
    for (rule, unit), values in sorted(rates.items()):
        print(f"  {rule:28s} {statistics.median(values):12,.0f} {unit}/s  ({len(values)} jobs)")
    model_rules = {rule for rule, seen in devices.items() if seen}
    check(
        bool(model_rules) and all(devices[r] == {device} for r in model_rules),
        f"every model-running job ran on {device} ({', '.join(sorted(model_rules))})",
    )

# --- 2. NLL: the run's bf16/fp16 numbers and every dtype on the device vs CPU float32 --------------------
if run is not None:
    ragged = np.load(run / "results" / "corpus" / "valid_tokens.npz")
    ids, offsets = ragged["ids"], ragged["offsets"]
    docs = [ids[offsets[d] : offsets[d + 1]].astype(np.int64) for d in range(len(offsets) - 1)]
    models = {}
    for name in smoke["models"]:
        steps = sorted(run.glob(f"results/losses/{name}/steps*/step*.npy"), key=lambda p: int(p.stem[4:]))
        final = steps[-1]
        ckpt = run / "results" / "checkpoints" / name / final.stem
        models[name] = (AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval(), final)
else:  # tiny random models of the smoke shapes, random documents
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 512, n) for n in rng.integers(2, 200, 8)]
    models = {f"random-{d}x2": (neox(512, d, 2, h, context, seed=d), None) for d, h in ((16, 2), (32, 4))}

print(f"-- per-token NLL, {len(docs)} documents, context {context}, stride {stride}")
for name, (model, run_file) in models.items():
    ref = token_nll(model, docs, context=context, stride=stride, token_budget=budget, device="cpu", log=quiet)
    if run_file is not None:
        meta = yaml.safe_load(run_file.with_suffix(".json").read_text())  # JSON is YAML
        got = np.load(run_file)
        check(meta["device"] == device, f"{name} {run_file.stem}: scored in the run on {meta['device']}")
        compare(
            np.split(got, np.cumsum([len(d) - 1 for d in docs])[:-1]),
            ref,
            DTYPES[meta["dtype"]],
            f"{name} {run_file.stem}, run ({meta['dtype']}) vs CPU float32",
        )
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        m = copy.deepcopy(model).to(device=device, dtype=dtype)
        kw = {"context": context, "stride": stride, "token_budget": budget, "device": device, "log": quiet}
        token_nll(m, docs[:2], **kw)  # warm-up
        got, seconds = timed(lambda: token_nll(m, docs, **kw))
        n = sum(len(d) - 1 for d in docs)
        compare(got, ref, dtype, f"{name} {str(dtype)[6:]} on {device} ({n / seconds:,.0f} tokens/s) vs CPU float32")
    # The NLL arithmetic is float32 whatever the logits' dtype: equal to the float32 computation, bit for bit.
    logits = torch.randn(3, 5, model.config.vocab_size, device=device).to(torch.bfloat16)
    targets = torch.randint(0, model.config.vocab_size, (3, 5), device=device)
    low, high = scoring._nll(logits, targets), scoring._nll(logits.float(), targets)
    check(low.dtype == torch.float32 and torch.equal(low, high), f"{name}: bf16 logits -> float32 NLL")

# --- 3. out-of-memory halving ------------------------------------------------------------------------
print("-- out-of-memory halving")
records = []


class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())


oom_log = logging.getLogger("gpu_check.oom")
oom_log.addHandler(Keep())
oom_log.propagate = False
big = neox(4096, 256, 4, 8, 128)
rng = np.random.default_rng(1)
if device == "cuda":
    # 1M tokens in one batch needs far more than 1 GiB: cap this process at 1 GiB, ask for 2^20 tokens.
    oom_docs = [rng.integers(0, 4096, 1024) for _ in range(1024)]
    big = big.to("cuda")
    ref = token_nll(big, oom_docs, context=128, stride=127, token_budget=8192, device="cuda", log=quiet)
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction((1 << 30) / torch.cuda.get_device_properties(0).total_memory)
    try:
        got = token_nll(big, oom_docs, context=128, stride=127, token_budget=1 << 20, device="cuda", log=oom_log)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    tol = 1e-4
else:
    # No CUDA: a simulated CUDA out-of-memory error for any batch over 1024 tokens; scoring on the CPU.
    oom_docs = [rng.integers(0, 4096, n) for n in rng.integers(2, 600, 24)]
    real = scoring._score_batch

    def tight(model, docs, batch, out, _device, accepts):
        width = max(w.end - w.start - 1 for w in batch)
        if len(batch) * width > 1024:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        real(model, docs, batch, out, "cpu", accepts)

    ref = token_nll(big, oom_docs, context=128, stride=64, token_budget=512, device="cpu", log=quiet)
    scoring._score_batch = tight
    try:
        got = token_nll(big, oom_docs, context=128, stride=64, token_budget=1 << 16, device="cuda", log=oom_log)
    finally:
        scoring._score_batch = real
    tol = 1e-5
halved = [r for r in records if "halved" in r]
print("  " + "; ".join(halved))
check(len(halved) >= 1, f"the budget halved {len(halved)} time(s) after out-of-memory")
err = max(float(np.abs(a - b).max()) for a, b in zip(got, ref))
check(err <= tol, f"same NLL after halving: max |dNLL| {err:.2e} (<= {tol:g})")

# --- 4. tokens/s on an earlier default's workload, per dtype and budget -------------------------------
n_work = 48 if device == "cuda" else 12  # the CPU's own numbers come from bench/bench_losses.py
print(f"-- token_nll on an earlier default's workload: gpt-256x4 shape, {n_work} x 512 tokens, context 128, stride 64")
work = [rng.integers(0, 4096, 512) for _ in range(n_work)]
n = sum(len(d) - 1 for d in work)
dtypes = (torch.float32, torch.bfloat16) if device == "cuda" else (torch.float32,)
budgets = (4096, 16384, 65536) if device == "cuda" else (1024, 2048, 16384)
for dtype in dtypes:
    m = big.to(device=device, dtype=dtype)
    for b in budgets:
        kw = {"context": 128, "stride": 64, "token_budget": b, "device": device, "log": quiet}
        token_nll(m, work[:4], **kw)
        best = min(timed(lambda: token_nll(m, work, **kw))[1] for _ in range(2))
        used = scoring.batch_tokens(b, device)
        print(f"  {str(dtype)[6:]:9s} token_budget {b:6d} (batches of <= {used:6d} tokens): {n / best:10,.0f} tokens/s")

if failures:
    print(f"\n{len(failures)} check(s) FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("\nall checks passed")
PYTHON
