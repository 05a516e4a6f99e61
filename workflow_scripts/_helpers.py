"""Glue shared by the rule scripts (the only place that knows about the `snakemake` object).

Importing this module (every script's first first-party import, so before any lmtraj module pulls in
transformers or huggingface_hub) takes a compute job off the network: the Hugging Face libraries read
their offline switches once, when they are first imported, so setting them later in setup() is too late.
"""

from __future__ import annotations

import logging
import os
import sys

# The rules that may use the network. They are local rules (they run where snakemake runs, the submit host
# under SLURM); there a user's own HF_HUB_OFFLINE is respected. Every other job runs where there may be no
# network and reads the hub cache that checkpoints_fetch filled.
NETWORK_RULES = frozenset(
    {"corpus_prepare", "corpus_tokenizer", "checkpoints_fetch", "bigbench_fetch"}
)
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def running_rule() -> str | None:
    """The rule of the job running this script (Snakemake's preamble defines `snakemake` in __main__)."""
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    return getattr(job, "rule", None)


def base_rule(rule: str | None) -> str | None:
    """The rule's own name: in a run of several families, each family's rules are named
    `<family>_<rule>` (rules/families.smk)."""
    if rule is None or rule in NETWORK_RULES:
        return rule
    return next((r for r in NETWORK_RULES if rule.endswith("_" + r)), rule)


def apply_network_policy(rule: str | None) -> None:
    """Offline variables for a compute job (forced: an inherited HF_HUB_OFFLINE=0 must not reach the
    hub from a node without network); nothing outside a job (tests, benchmarks import this module)."""
    if rule is None:
        return
    rule = base_rule(rule)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if rule not in NETWORK_RULES:
        os.environ.update(OFFLINE)


apply_network_policy(running_rule())


def setup(snakemake, offline: bool = True) -> logging.Logger:
    """Log to the rule's log file (and stderr), tracebacks included.

    `offline` says what the script expects: False exactly for the rules in NETWORK_RULES, which decided
    the offline variables when this module was imported; a script that disagrees stops here.
    """
    if offline == (base_rule(snakemake.rule) in NETWORK_RULES):
        raise RuntimeError(
            f"rule {snakemake.rule}: its script calls setup(offline={offline}), but _helpers.NETWORK_RULES "
            "says otherwise; add the rule to NETWORK_RULES or drop offline=False"
        )
    apply_network_policy(snakemake.rule)
    log = logging.getLogger("lmtraj")
    log.setLevel(logging.INFO)
    log.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        os.makedirs(os.path.dirname(os.path.abspath(snakemake.log[0])), exist_ok=True)
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    for handler in handlers:
        handler.setFormatter(fmt)
        log.addHandler(handler)

    def excepthook(kind, value, tb):
        log.error("job failed", exc_info=(kind, value, tb))

    sys.excepthook = excepthook
    log.info("rule %s, wildcards %s", snakemake.rule, dict(snakemake.wildcards.items()))
    return log


def torch_setup(snakemake, log: logging.Logger) -> str:
    """Threads from the rule, device from its GPU request: 'cuda' if gpu>0 (required), else auto."""
    import torch
    import transformers

    from lmtraj.device import pick_device

    transformers.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(max(1, int(snakemake.threads)))
    wants_gpu = int(getattr(snakemake.resources, "gpu", 0) or 0) > 0
    if wants_gpu and os.environ.get("LMTRAJ_FAKE_GPUS") == "1":
        # CI's SLURM cluster schedules GPUs backed by dummy devices: test the scheduling, run on CPU.
        log.warning(
            "LMTRAJ_FAKE_GPUS=1: this job's GPU is a scheduler stand-in (CI); using the CPU"
        )
        wants_gpu = False
    device = pick_device("cuda" if wants_gpu else "auto")
    log.info(
        "device %s, torch %s, %d thread(s)", device, torch.__version__, torch.get_num_threads()
    )
    return device


def usable_specs(snakemake, log: logging.Logger) -> list[dict]:
    """The block's checkpoint specs minus hub revisions flagged by the integrity check (hub.on_defect: skip)."""
    specs = list(snakemake.params.specs)
    integrity = list(getattr(snakemake.input, "integrity", []) or [])
    if not integrity:
        return specs
    from lmtraj.checkpoints.integrity import read_integrity
    from lmtraj.checkpoints.integrity import usable_specs as split

    keep, skipped = split(specs, read_integrity(integrity[0]))
    for spec in skipped:
        log.warning(
            "skipping %s step %d: flagged by the integrity check", spec["model"], spec["step"]
        )
    return keep


def usable_steps(snakemake, steps: list[int]) -> list[int]:
    """`steps` minus the model's flagged hub revisions (a merge leaves out what scoring skipped)."""
    integrity = list(getattr(snakemake.input, "integrity", []) or [])
    if not integrity:
        return list(steps)
    from lmtraj.checkpoints.integrity import flagged, read_integrity

    table = read_integrity(integrity[0])
    bad = set(flagged(table[table["model"].eq(snakemake.wildcards.model)])["step"].astype(int))
    return [s for s in steps if int(s) not in bad]


def optional_tsv(inputs):
    """A reader of the rule's named TSV inputs that returns None for an input the rule did not get
    (a stage switched off, or too few models for it)."""
    import pandas as pd

    given = dict(inputs.items())

    def read(key: str):
        return pd.read_csv(given[key], sep="\t") if key in given else None

    return read
