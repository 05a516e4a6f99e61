# Stage "checkpoints": train the embedded suite, fetch hub revisions, check the shared tokenizer.


rule checkpoints_train:
    input:
        tokenizer=rules.corpus_tokenizer.output[0],
        tokens=rules.corpus_tokenize_train.output[0],
    output:
        checkpoints=[
            directory(f"results/checkpoints/{{model}}/step{step}")
            for step in suite.checkpoint_grid(
                config["training"]["steps"], config["training"]["checkpoint_every"]
            )
        ],
        history="results/checkpoints/{model}/train_history.tsv",
    log:
        "logs/checkpoints/checkpoints_train/{model}.log",
    benchmark:
        "results/benchmarks/checkpoints/checkpoints_train/{model}.tsv"
    conda:
        "../envs/lmtraj.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=GPU,
        mem_mb=model_mem_mb(4000, sizing.TRAINING_BYTES),
        runtime=model_runtime_min(60, 60),
    params:
        model=model_entry,
        training=config["training"],
        seed=config["seed"],
    script:
        "../workflow_scripts/checkpoints_train.py"


rule checkpoints_tokenizer_check:
    input:
        tokenizer=rules.corpus_tokenizer.output[0],
        first=[checkpoint_files(m, steps_of(m)[0]) for m in MODELS],
    output:
        "results/checkpoints/tokenizer_check.tsv",
    log:
        "logs/checkpoints/checkpoints_tokenizer_check.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(10),
    params:
        specs=[spec_of(m, steps_of(m)[0]) for m in MODELS],
    script:
        "../workflow_scripts/checkpoints_tokenizer_check.py"


# >>> hub
# Hub checkpoints (models with source: hf). checkpoints_fetch is a local rule: it downloads one
# revision's needed files where the network is (the submit host under SLURM) and writes its
# manifest; model-running jobs then read the shared cache with HF_HUB_OFFLINE=1.
# checkpoints_integrity compares the manifests of the whole suite (missing revisions, weights
# byte-identical to another revision's) and stops or records them (hub.on_defect).
HUB_MODELS = [m for m in MODELS if config["models"][m]["source"] == "hf"]
HUB_INTEGRITY = "results/checkpoints/integrity.tsv"


rule checkpoints_fetch:
    output:
        "results/checkpoints/{model}/hub/step{step}.json",
    log:
        "logs/checkpoints/checkpoints_fetch/{model}_step{step}.log",
    localrule: True
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(60),
    params:
        repo=lambda wildcards: config["models"][wildcards.model]["repo"],
        revision=lambda wildcards: spec_of(wildcards.model, wildcards.step)["revision"],
        cache_dir=config["hub"]["cache_dir"],
        on_defect=config["hub"]["on_defect"],
    script:
        "../workflow_scripts/checkpoints_fetch.py"


rule checkpoints_integrity:
    input:
        manifests=[
            f"results/checkpoints/{model}/hub/step{step}.json"
            for model in HUB_MODELS
            for step in steps_of(model)
        ],
    output:
        table=report(
            HUB_INTEGRITY,
            caption="../report/checkpoints_integrity.rst",
            category="1. checkpoints",
            labels={"result": "table: hub checkpoint integrity"},
        ),
        manifests=expand("results/checkpoints/{model}/manifest.tsv", model=HUB_MODELS),
    log:
        "logs/checkpoints/checkpoints_integrity.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(10),
    params:
        models=HUB_MODELS,
        tokens_per_step={m: config["models"][m]["tokens_per_step"] for m in HUB_MODELS},
        on_defect=config["hub"]["on_defect"],
    script:
        "../workflow_scripts/checkpoints_integrity.py"


TARGETS["checkpoints_hub"] = lambda: [HUB_INTEGRITY] if HUB_MODELS else []
# <<< hub
