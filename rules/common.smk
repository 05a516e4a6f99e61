# Everything that is not a rule: config validation, the checkpoint suite, input functions, resources
# and the target list. Rules read config only through the helpers and params defined here.
import os
import re
import sys

from snakemake.utils import validate

sys.path.insert(0, os.path.join(workflow.basedir, "workflow_scripts"))

# Pure Python: building the DAG never imports torch.
from lmtraj.checkpoints import suite  # noqa: E402

validate(config, schema="../schemas/config.schema.yaml", set_default=True)
suite.check_models(config["models"])

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
    return suite.checkpoint_spec(
        model,
        config["models"][model],
        int(step),
        config["training"],
        workflow.basedir,
        hub_cache=config["hub"]["cache_dir"],
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
