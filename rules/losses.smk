# Stage "losses": per-token losses of every checkpoint on the token-analysis text, validation perplexity
# on the disjoint validation-perplexity set, the tokens x checkpoints trajectory of every model, and
# Figure 1.


rule losses_index:
    input:
        tokenizer=rules.corpus_tokenizer.output[0],
        tokens=rules.corpus_tokenize_valid.output[0],
    output:
        "results/losses/tokens.parquet",
    log:
        "logs/losses/losses_index.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(10),
    script:
        "../workflow_scripts/losses_index.py"


rule losses_tokens:
    input:
        checkpoints=block_checkpoint_files,
        tokens=rules.corpus_tokenize_valid.output.tokens,
        ppl_tokens=rules.corpus_tokenize_valid.output.ppl,
        tokenizer=rules.corpus_tokenizer.output[0],
        tokenizer_check=rules.checkpoints_tokenizer_check.output[0],
        integrity=hub_integrity,
    output:
        directory("results/losses/{model}/steps{block}"),
    log:
        "logs/losses/losses_tokens/{model}_steps{block}.log",
    benchmark:
        "results/benchmarks/losses/losses_tokens/{model}_steps{block}.tsv"
    conda:
        "../envs/lmtraj.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=GPU,
        mem_mb=model_mem_mb(4000),
        runtime=model_runtime_min(30, 5),
    params:
        specs=block_specs,
        scoring=config["losses"]["scoring"],
        dtype=config["dtype"],
    script:
        "../workflow_scripts/losses_tokens.py"


rule losses_trajectory:
    input:
        blocks=block_dirs_of("losses"),
        integrity=hub_integrity,
    output:
        trajectory="results/losses/{model}/trajectory.npy",
        checkpoints="results/losses/{model}/checkpoints.tsv",
    log:
        "logs/losses/losses_trajectory/{model}.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime_min(10),
    params:
        steps=model_steps,
        flops_params=config["losses"]["flops_params"],
    script:
        "../workflow_scripts/losses_trajectory.py"


rule losses_checkpoints:
    input:
        expand("results/losses/{model}/checkpoints.tsv", model=MODELS),
    output:
        report(
            "results/losses/checkpoints.tsv",
            caption="../report/losses_checkpoints.rst",
            category="1. losses",
            labels={"result": "table: checkpoints and validation perplexity"},
        ),
    log:
        "logs/losses/losses_checkpoints.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(5),
    script:
        "../workflow_scripts/losses_checkpoints.py"


rule losses_plot:
    input:
        checkpoints=rules.losses_checkpoints.output[0],
    output:
        report(
            "results/losses/figures/losses_valid_ppl.png",
            caption="../report/losses_valid_ppl.rst",
            category="1. losses",
            labels={"result": "figure: validation perplexity over training (Fig. 1)"},
        ),
    log:
        "logs/losses/losses_plot.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(5),
    params:
        models=MODELS,
    script:
        "../workflow_scripts/losses_plot.py"


# Word-level trajectories (trends.units: words): the units every tokenizer shares.
rule losses_word_index:
    input:
        tokenizer=rules.corpus_tokenizer.output[0],
        tokens=rules.corpus_tokenize_valid.output.tokens,
    output:
        index="results/losses/words.parquet",
        rows="results/losses/word_rows.npy",
    log:
        "logs/losses/losses_word_index.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(10),
    script:
        "../workflow_scripts/losses_word_index.py"


rule losses_word_trajectory:
    input:
        trajectory=rules.losses_trajectory.output.trajectory,
        rows=rules.losses_word_index.output.rows,
    output:
        "results/losses/{model}/word_trajectory.npy",
    log:
        "logs/losses/losses_word_trajectory/{model}.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime_min(10),
    script:
        "../workflow_scripts/losses_word_trajectory.py"


TARGETS["losses"] = lambda: [
    rules.losses_plot.output[0],
    rules.losses_index.output[0],
    *expand("results/losses/{model}/trajectory.npy", model=MODELS),
]
