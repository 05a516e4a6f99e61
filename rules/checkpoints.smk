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
    threads: 2
    resources:
        gpu=GPU,
        mem_mb=mem_mb(4000),
        runtime=runtime_min(60),
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
# <<< hub
