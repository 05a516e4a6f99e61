"""Score every option of every selected task under each checkpoint of one block
(files per checkpoint: see lmtraj.bigbench.checkpoint_scores)."""

from pathlib import Path

from _helpers import setup, torch_setup, usable_specs
from lmtraj.bigbench.checkpoint_scores import Encodings, score_block
from lmtraj.bigbench.prompts import build_items
from lmtraj.bigbench.sdist import load_task
from lmtraj.device import forward_dtype
from lmtraj.tokenizer import load_tokenizer

log = setup(snakemake)
device = torch_setup(snakemake, log)
p, inp = snakemake.params, snakemake.input
out = Path(snakemake.output[0])
out.mkdir(parents=True, exist_ok=True)

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
score_block(
    usable_specs(snakemake, log),
    Encodings(items, encode, empty_id, p.prompts["shots"]),
    out,
    scoring=p.scoring,
    device=device,
    dtype=forward_dtype(device, p.dtype),
    log=log,
)
