# Everything that is not a rule: config validation, the checkpoint suite, input functions, resources
# and the target list. Rules read config only through the helpers and params defined here.
import os
import re
import sys

from snakemake.utils import validate

sys.path.insert(0, os.path.join(workflow.basedir, "workflow_scripts"))

# Pure Python: building the DAG never imports torch.
from lmtraj import config_checks  # noqa: E402
from lmtraj.checkpoints import sizing, suite  # noqa: E402

validate(config, schema="../schemas/config.schema.yaml", set_default=True)
suite.check_models(config["models"])
# Mistakes a job would find only after minutes of work fail here, naming the key and the value.
config_checks.check_config(config, workflow.basedir)

MODELS = list(config["models"])  # config order = size order (smallest first)
TRAINED = [m for m in MODELS if config["models"][m]["source"] == "train"]
GPU = int(
    config["gpus"]
)  # GPUs per model-running job; 0 on a laptop, 1 in profiles/slurm


wildcard_constraints:
    model="|".join(map(re.escape, MODELS)),
    step=r"\d+",
    block=r"\d+-\d+",


def steps_of(model):
    return suite.model_steps(config["models"][model], config["training"])


def final_step(model):
    return steps_of(model)[-1]


def spec_of(model, step):
    # A local checkpoint's relative path (relative to the workflow folder) is written relative to the
    # working directory, where the jobs run: no absolute path in a param, so a moved project is up to date.
    return suite.checkpoint_spec(
        model,
        config["models"][model],
        int(step),
        config["training"],
        os.path.relpath(workflow.basedir),
        hub_cache=config["hub"]["cache_dir"],
        family_dir=config["family_dir"],
    )


def checkpoint_files(model, step):
    """The file(s) whose existence means checkpoint (model, step) is ready to load."""
    source = config["models"][model]["source"]
    if source == "train":
        return [f"results/checkpoints/{model}/step{step}"]
    if source == "local":
        return [spec_of(model, step)["path"]]
    return [f"results/checkpoints/{model}/hub/step{step}.json"]


# ---- checkpoint blocks: one job scores several checkpoints (docs/architecture.md) ----
def _blocks(model):
    return suite.blocks(steps_of(model), config["jobs"]["checkpoints_per_job"])


def checkpoint_blocks(model):
    return list(_blocks(model))


def block_steps(model, block):
    return _blocks(model)[block]


def block_dirs(stage, model):
    return [f"results/{stage}/{model}/steps{b}" for b in checkpoint_blocks(model)]


def block_checkpoint_files(wildcards):
    files = []
    for step in block_steps(wildcards.model, wildcards.block):
        files.extend(checkpoint_files(wildcards.model, step))
    return files


def block_specs(wildcards):
    return [
        spec_of(wildcards.model, s)
        for s in block_steps(wildcards.model, wildcards.block)
    ]


def final_spec(wildcards):
    return spec_of(wildcards.model, final_step(wildcards.model))


def final_checkpoint_files(wildcards):
    return checkpoint_files(wildcards.model, final_step(wildcards.model))


# ---- resources: grow with the attempt number, so --retries gives an OOM-killed job more room ----
def mem_mb(base):
    def scaled(wildcards, attempt):
        return base * attempt

    return scaled


def runtime_min(base):
    def scaled(wildcards, attempt):
        return base * attempt

    return scaled


# Model-running rules: one thread each, so a laptop runs one model job per core. Measured on the embedded
# default (2-core Xeon, bench/bench_default.py): 314 s with one thread per job, two jobs at a time, against
# 526 s with two threads and one job at a time. Much of a job is single-threaded anyway (importing torch
# and transformers, ~7 s), and tiny models gain little from a second thread. profiles/slurm gives each
# of these rules the CPUs its GPU job gets (set-threads). Memory and time come from the parameter count
# of the model(s) the job holds (lmtraj.checkpoints.sizing).
MODEL_THREADS = 1
VOCAB = (
    config["tokenizer"]["vocab_size"]
    if config["tokenizer"]["source"] == "train"
    else sizing.VOCAB_GUESS
)


def params_of(model):
    return sizing.model_params(config["models"][model], VOCAB)


def _job_models(wildcards, models):
    return list(models) if models is not None else [wildcards.model]


def _job_checkpoints(wildcards):
    if "block" in wildcards.keys():
        return len(block_steps(wildcards.model, wildcards.block))
    return 1


def model_mem_mb(base, bytes_per_param=sizing.INFERENCE_BYTES, models=None):
    """mem_mb of a job holding the wildcards' model (or `models`, all at once)."""

    def scaled(wildcards, attempt):
        params = [params_of(m) for m in _job_models(wildcards, models)]
        return sizing.mem_mb(params, base, bytes_per_param, attempt)

    return scaled


def model_runtime_min(base, min_per_billion, models=None):
    """runtime of a job over the wildcards' block of checkpoints (one checkpoint without a block)."""

    def scaled(wildcards, attempt):
        params = [params_of(m) for m in _job_models(wildcards, models)]
        n = _job_checkpoints(wildcards)
        return sizing.runtime_min(params, base, min_per_billion, n, attempt)

    return scaled


# ---- targets: each stage registers a function returning its final outputs ----
TARGETS = {}


def stage_enabled(stage):
    return config.get(stage, {}).get("enabled", True)


def all_targets():
    return [
        path for stage, fn in TARGETS.items() if stage_enabled(stage) for path in fn()
    ]


def model_entry(wildcards):
    return config["models"][wildcards.model]


def block_dirs_of(stage):
    """Input function: the block directories of `stage` for the wildcards' model (a merge's input)."""

    def dirs(wildcards):
        return block_dirs(stage, wildcards.model)

    return dirs


def model_steps(wildcards):
    return steps_of(wildcards.model)


def hub_integrity(wildcards):
    """The suite's integrity table for hub models (flagged revisions are skipped or stop the run).

    ancient(): adding a revision rewrites the table, but must not rerun the other revisions' jobs.
    """
    if config["models"][wildcards.model]["source"] != "hf":
        return []
    return [ancient("results/checkpoints/integrity.tsv")]


# ---- a run killed with kill -9 (or a power loss) leaves Snakemake's lock behind ----
def stale_lock_hint():
    """Say how to resume when this folder is locked: Snakemake then stops with "Directory cannot be
    locked" (LockException), and the same command alone does not resume until the lock is removed.
    """
    from snakemake.logging import logger
    from snakemake_interface_executor_plugins.settings import ExecMode

    locked = os.path.isdir(".snakemake/locks") and os.listdir(".snakemake/locks")
    if not locked or workflow.exec_mode != ExecMode.DEFAULT or "--unlock" in sys.argv:
        return  # jobs on a cluster node parse this file too, while the main run holds the lock
    logger.warning(
        "This folder is locked (.snakemake/locks): another snakemake is running here, or one was "
        "killed (kill -9, power loss, a closed terminal). If none is running, remove the lock with "
        "`snakemake --unlock` plus the same --configfile/--directory arguments, then rerun the same "
        "command: finished jobs are kept and interrupted ones are redone (rerun-incomplete)."
    )


stale_lock_hint()
