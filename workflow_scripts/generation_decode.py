"""Decode texts from interpolations of two checkpoints (paper Eq. 2-3) for every setting, decoding and
length; write them with their settings and token ids as JSONL (exact) and TSV (for reading)."""

from _helpers import setup, torch_setup
from lmtraj.checkpoints.storage import describe, load_checkpoint
from lmtraj.device import forward_dtype
from lmtraj.errors import ConfigError
from lmtraj.generation.decoding import decode_grid
from lmtraj.generation.mixture import make_settings
from lmtraj.generation.text_files import write_texts
from lmtraj.generation.texts import prompts_from_documents, texts_frame
from lmtraj.io import load_ragged
from lmtraj.progress import Progress
from lmtraj.tokenizer import load_tokenizer

log = setup(snakemake)
device = torch_setup(snakemake, log)
p, inp, out = snakemake.params, snakemake.input, snakemake.output
g = p.generation
settings = make_settings(g["settings"], g["lambda_grid"])
tok = load_tokenizer(inp.tokenizer)
docs, prompts = prompts_from_documents(load_ragged(inp.tokens), g["n_prompts"], g["prompt_tokens"])
log.info(
    "%d prompts of %d tokens; settings %s",
    len(prompts),
    g["prompt_tokens"],
    [s.name for s in settings],
)

dtype = forward_dtype(device, p.dtype)
small, large = (load_checkpoint(spec, device, dtype) for spec in (p.small, p.large))
need = g["prompt_tokens"] + max(g["max_new_tokens"])
for spec, model in ((p.small, small), (p.large, large)):
    if need > model.config.max_position_embeddings:
        raise ConfigError(
            f"generation: prompt_tokens + max(max_new_tokens) = {need} exceeds the "
            f"{model.config.max_position_embeddings} positions of {describe(spec)}"
        )

progress = Progress(
    len(settings) * len(g["decodings"]) * len(prompts), log, "decoding", unit="texts"
)
records = decode_grid(
    small,
    large,
    prompts,
    docs,
    settings,
    g["decodings"],
    g["max_new_tokens"],
    top_p=g["top_p"],
    on_degenerate=g["on_degenerate"],
    batch_size=g["batch_size"],
    eos_id=tok.eos_token_id,
    seed=p.seed,
    device=device,
    pair_names=(p.small["model"], p.large["model"]),
    on_batch=progress.update,
)
progress.done()
texts = texts_frame(records, tok.decode)
pair = {
    "small_model": p.small["model"],
    "small_step": p.small["step"],
    "large_model": p.large["model"],
    "large_step": p.large["step"],
    "seed": p.seed,
}
texts = texts.assign(**pair)
fallbacks = int((texts["n_fallback_steps"] > 0).sum())
if fallbacks:
    log.warning("%d texts fell back to p_l at some step (column n_fallback_steps)", fallbacks)

write_texts(texts, out.jsonl, out.tsv)
log.info("%d texts written", len(texts))
