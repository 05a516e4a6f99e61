# Stage "bigbench" (paper §5, App. D): k-shot multiple-choice tasks at every checkpoint. BIG-bench task
# files (fetched once, offline afterwards) and tasks built from the validation text; per-option scores,
# per-item / per-task / per-group tables, linearity and breakthroughness across sizes, Figs. 8, 9, 17/18
# and 5 right.
from lmtraj.bigbench.sdist_tasks import BUNDLED_DIR
from lmtraj.bigbench.task_lists import resolve_task_names
from lmtraj.bigbench.selection import task_groups
from lmtraj.errors import ConfigError as _ConfigError

BIGBENCH = config["bigbench"]
BIGBENCH_TASKS = resolve_task_names(BIGBENCH["tasks"])
BIGBENCH_CORPUS_TASKS = (
    list(BIGBENCH["corpus_tasks"]["types"])
    if BIGBENCH["corpus_tasks"]["enabled"]
    else []
)
if stage_enabled("bigbench") and not BIGBENCH_TASKS + BIGBENCH_CORPUS_TASKS:
    raise _ConfigError(
        "bigbench: no task to score (bigbench.tasks is empty and corpus_tasks are off)"
    )
if set(BIGBENCH_TASKS) & set(BIGBENCH_CORPUS_TASKS):
    raise _ConfigError(
        "bigbench.tasks must not repeat the corpus task names "
        f"{sorted(set(BIGBENCH_TASKS) & set(BIGBENCH_CORPUS_TASKS))}"
    )
BIGBENCH_GROUPS = task_groups(BIGBENCH_TASKS, BIGBENCH_CORPUS_TASKS)
BIGBENCH_SEED = config["seed"] if BIGBENCH["seed"] is None else BIGBENCH["seed"]
BIGBENCH_PROMPTS = {
    "shots": BIGBENCH["shots"],
    "seed": BIGBENCH_SEED,
    "max_examples": BIGBENCH["max_examples"],
}


# The bundled tasks' folder as a path relative to the workflow folder, resolved by the script: an absolute
# path in a param would rerun bigbench_fetch in a moved project.
BIGBENCH_LOCAL_DIR = (
    BUNDLED_DIR if BIGBENCH["source"] == "bundled" else BIGBENCH["local_dir"]
)
# Task folders scored by bigbench_score, by kind (a kind without tasks has no folder).
BIGBENCH_FETCH_DIR = "results/bigbench/tasks/bigbench"
BIGBENCH_CORPUS_DIR = "results/bigbench/tasks/corpus"
BIGBENCH_TASK_DIRS = {
    **({"bigbench": BIGBENCH_FETCH_DIR} if BIGBENCH_TASKS else {}),
    **({"corpus": BIGBENCH_CORPUS_DIR} if BIGBENCH_CORPUS_TASKS else {}),
}


rule bigbench_fetch:
    output:
        tasks=directory(BIGBENCH_FETCH_DIR),
        summary=report(
            "results/bigbench/tasks/bigbench_tasks.tsv",
            caption="../report/bigbench_task_list.rst",
            category="4. bigbench",
            labels={"result": "table: BIG-bench tasks scored"},
        ),
    log:
        "logs/bigbench/bigbench_fetch.log",
    localrule: True
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(20),
    params:
        tasks=BIGBENCH_TASKS,
        source=BIGBENCH["source"],
        cache_dir=BIGBENCH["cache_dir"],
        local_dir=BIGBENCH_LOCAL_DIR,
        pip_command=BIGBENCH["pip_command"],
        prompts=BIGBENCH_PROMPTS,
    script:
        "../workflow_scripts/bigbench_fetch.py"


rule bigbench_corpus_tasks:
    input:
        docs=rules.corpus_prepare.output.task,
    output:
        directory(BIGBENCH_CORPUS_DIR),
    log:
        "logs/bigbench/bigbench_corpus_tasks.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(10),
    params:
        corpus_tasks=BIGBENCH["corpus_tasks"],
        seed=config["seed"],
        prompts=BIGBENCH_PROMPTS,
    script:
        "../workflow_scripts/bigbench_corpus_tasks.py"


rule bigbench_score:
    input:
        **BIGBENCH_TASK_DIRS,
        checkpoints=block_checkpoint_files,
        tokenizer=rules.corpus_tokenizer.output[0],
        tokenizer_check=rules.checkpoints_tokenizer_check.output[0],
        integrity=hub_integrity,
    output:
        directory("results/bigbench/{model}/steps{block}"),
    log:
        "logs/bigbench/bigbench_score/{model}_steps{block}.log",
    benchmark:
        "results/benchmarks/bigbench/bigbench_score/{model}_steps{block}.tsv"
    conda:
        "../envs/lmtraj.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=GPU,
        mem_mb=model_mem_mb(4000),
        runtime=model_runtime_min(60, 10),
    params:
        specs=block_specs,
        tasks={"bigbench": BIGBENCH_TASKS, "corpus": BIGBENCH_CORPUS_TASKS},
        prompts=BIGBENCH_PROMPTS,
        scoring=BIGBENCH["scoring"],
        dtype=config["dtype"],
    script:
        "../workflow_scripts/bigbench_score.py"


rule bigbench_collect:
    input:
        blocks=[d for m in MODELS for d in block_dirs("bigbench", m)],
        checkpoints=rules.losses_checkpoints.output[0],
    output:
        tasks=report(
            "results/bigbench/tasks.tsv",
            caption="../report/bigbench_tasks.rst",
            category="4. bigbench",
            labels={
                "result": "table: accuracy and option perplexity per task and checkpoint",
            },
        ),
        per_item="results/bigbench/items.parquet",
        means=report(
            "results/bigbench/means.tsv",
            caption="../report/bigbench_means.rst",
            category="4. bigbench",
            labels={"result": "table: mean accuracy per task group and checkpoint"},
        ),
        scaling=report(
            "results/bigbench/scaling.tsv",
            caption="../report/bigbench_scaling.rst",
            category="4. bigbench",
            labels={"result": "table: linearity and breakthroughness per task"},
        ),
    log:
        "logs/bigbench/bigbench_collect.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime_min(10),
    params:
        models=MODELS,
        metric=BIGBENCH["metric"],
        groups=BIGBENCH_GROUPS,
        corpus_tasks=BIGBENCH_CORPUS_TASKS,
    script:
        "../workflow_scripts/bigbench_collect.py"


rule bigbench_plot:
    input:
        tasks=rules.bigbench_collect.output.tasks,
        means=rules.bigbench_collect.output.means,
        scaling=rules.bigbench_collect.output.scaling,
        checkpoints=rules.losses_checkpoints.output[0],
    output:
        accuracy=report(
            "results/bigbench/figures/bigbench_accuracy.png",
            caption="../report/bigbench_accuracy.rst",
            category="4. bigbench",
            labels={"result": "figure: mean accuracy over training (Fig. 8)"},
        ),
        lists=report(
            "results/bigbench/figures/bigbench_linearity_breakthroughness.png",
            caption="../report/bigbench_linearity_breakthroughness.rst",
            category="4. bigbench",
            labels={"result": "figure: linearity and breakthroughness tasks (Fig. 9)"},
        ),
        per_task=report(
            "results/bigbench/figures/bigbench_per_task.png",
            caption="../report/bigbench_per_task.rst",
            category="4. bigbench",
            labels={"result": "figure: every task (Figs. 17, 18)"},
        ),
        option_ppl=report(
            "results/bigbench/figures/bigbench_option_ppl.png",
            caption="../report/bigbench_option_ppl.rst",
            category="4. bigbench",
            labels={"result": "figure: option perplexity vs size (Fig. 5 right)"},
        ),
    log:
        "logs/bigbench/bigbench_plot.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(10),
    params:
        models=MODELS,
        groups=list(BIGBENCH_GROUPS),
    script:
        "../workflow_scripts/bigbench_plot.py"


TARGETS["bigbench"] = lambda: [
    *rules.bigbench_plot.output,
    rules.bigbench_collect.output.per_item,
    *([rules.bigbench_fetch.output.summary] if BIGBENCH_TASKS else []),
]
