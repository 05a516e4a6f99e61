"""Score every option of every selected task under each checkpoint of one block.

Per checkpoint: step{step}.options.parquet (one row per option: log-prob sum, token / char / byte
counts), step{step}.items.parquet (per item: each metric's pick and correctness), step{step}.tasks.tsv
(per task: accuracies, chance level, option perplexities, demonstrations kept, truncations, items left
out because an option does not fit the model's context) and step{step}.json (timing, device, mode).
"""

import time
from collections import Counter
from pathlib import Path

from _helpers import setup, torch_setup, usable_specs
from lmtraj.bigbench_prompts import build_items, encode_items
from lmtraj.bigbench_tasks import load_task
from lmtraj.checkpoints import describe, load_checkpoint
from lmtraj.device import forward_dtype
from lmtraj.io import write_json, write_parquet, write_tsv
from lmtraj.mc_metrics import item_table, task_table
from lmtraj.mc_scoring import choose_mode, score_items
from lmtraj.tokenizer import load_tokenizer

log = setup(snakemake)  # noqa: F821
device = torch_setup(snakemake, log)  # noqa: F821
p, inp = snakemake.params, snakemake.input  # noqa: F821
out = Path(snakemake.output[0])  # noqa: F821
out.mkdir(parents=True, exist_ok=True)
dtype = forward_dtype(device, p.dtype)

items = []
for kind, names in p.tasks.items():
    cap = p.prompts["max_examples"] if kind == "bigbench" else None
    for name in names:
        task = load_task(Path(inp[kind]) / name)
        items += build_items(task, name, shots=p.prompts["shots"], seed=p.prompts["seed"], cap=cap)
tok = load_tokenizer(inp.tokenizer)
backend = tok.backend_tokenizer


def encode(text):
    return backend.encode(text, add_special_tokens=False).ids


empty_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
encodings = {}  # max_tokens -> (items, encoded, skipped): the same for every checkpoint of a model
for spec in usable_specs(snakemake, log):  # noqa: F821
    start = time.monotonic()
    model = load_checkpoint(spec, device, dtype)
    max_tokens = int(model.config.max_position_embeddings)
    if p.scoring["max_tokens"]:
        max_tokens = min(max_tokens, int(p.scoring["max_tokens"]))
    if max_tokens not in encodings:
        encodings[max_tokens] = encode_items(items, encode, max_tokens, empty_id)
        kept, encoded, skipped = encodings[max_tokens]
        for _, message in skipped:
            log.warning("left out: %s", message)
        log.info(
            "%d items (%d options) fit %d positions; %d left out; %d lost demonstrations, %d truncated",
            len(kept),
            sum(len(e.option_ids) for e in encoded),
            max_tokens,
            len(skipped),
            sum(e.n_demos < p.prompts["shots"] for e in encoded),
            sum(e.truncated_tokens > 0 for e in encoded),
        )
    kept, encoded, skipped = encodings[max_tokens]
    mode = p.scoring["mode"]
    if mode == "auto":
        mode = choose_mode(model, encoded, device, log)
    options = score_items(
        model,
        kept,
        encoded,
        mode=mode,
        token_budget=p.scoring["token_budget"],
        device=device,
        log=log,
    ).assign(model=spec["model"], step=int(spec["step"]))
    per_item = item_table(options)
    per_task = task_table(options, per_item)
    left_out = Counter(it.task for it, _ in skipped)
    per_task["skipped_items"] = per_task["task"].map(left_out).fillna(0).astype(int)
    step = int(spec["step"])
    write_parquet(out / f"step{step}.options.parquet", options)
    write_parquet(out / f"step{step}.items.parquet", per_item)
    write_tsv(out / f"step{step}.tasks.tsv", per_task)
    seconds = time.monotonic() - start
    write_json(
        out / f"step{step}.json",
        {
            "model": spec["model"],
            "step": step,
            "n_items": len(kept),
            "n_options": len(options),
            "skipped_items": len(skipped),
            "max_tokens": max_tokens,
            "mode": mode,
            "device": device,
            "dtype": str(dtype),
            "seconds": seconds,
        },
    )
    log.info(
        "%s: mean acc %.3f over %d tasks, %.1f s (%s)",
        describe(spec),
        per_task["acc"].mean(),
        len(per_task),
        seconds,
        mode,
    )
    del model
