# Stage "generation" (paper §4): texts decoded from an interpolation of a small and a large checkpoint,
# their perplexity under every checkpoint of every model, and the perplexity of corrupted text.
from lmtraj.generation.texts import resolve_checkpoint

GENERATION = config["generation"]
GENERATION_STEPS = {m: steps_of(m) for m in MODELS}
GENERATION_SMALL = resolve_checkpoint(
    GENERATION["small"], "small", MODELS, GENERATION_STEPS
)
GENERATION_LARGE = resolve_checkpoint(
    GENERATION["large"], "large", MODELS, GENERATION_STEPS
)
GENERATION_DECODING = {
    key: GENERATION[key]
    for key in [
        "settings",
        "lambda_grid",
        "decodings",
        "top_p",
        "max_new_tokens",
        "n_prompts",
        "prompt_tokens",
        "on_degenerate",
        "batch_size",
    ]
}


GENERATION_FIGURES = [
    f"results/generation/figures/generation_{kind}_{decoding}_{length}.png"
    for kind in ["trajectories", "valid_ppl"]
    for decoding in GENERATION["decodings"]
    for length in GENERATION["max_new_tokens"]
]


rule generation_decode:
    input:
        tokenizer=rules.corpus_tokenizer.output[0],
        tokens=rules.corpus_tokenize_valid.output[0],
        tokenizer_check=rules.checkpoints_tokenizer_check.output[0],
        small=checkpoint_files(*GENERATION_SMALL),
        large=checkpoint_files(*GENERATION_LARGE),
    output:
        jsonl="results/generation/texts.jsonl",
        tsv=report(
            "results/generation/texts.tsv",
            caption="../report/generation_texts.rst",
            category="3. generation",
            labels={"result": "table: generated texts"},
        ),
    log:
        "logs/generation/generation_decode.log",
    benchmark:
        "results/benchmarks/generation/generation_decode.tsv"
    conda:
        "../envs/lmtraj.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=GPU,
        mem_mb=model_mem_mb(4000, models=[GENERATION_SMALL[0], GENERATION_LARGE[0]]),
        runtime=model_runtime_min(
            30, 10, models=[GENERATION_SMALL[0], GENERATION_LARGE[0]]
        ),
    params:
        generation=GENERATION_DECODING,
        small=spec_of(*GENERATION_SMALL),
        large=spec_of(*GENERATION_LARGE),
        seed=config["seed"],
        dtype=config["dtype"],
    script:
        "../workflow_scripts/generation_decode.py"


rule generation_score:
    input:
        checkpoints=block_checkpoint_files,
        texts=rules.generation_decode.output.jsonl,
        integrity=hub_integrity,
    output:
        directory("results/generation/{model}/steps{block}"),
    log:
        "logs/generation/generation_score/{model}_steps{block}.log",
    benchmark:
        "results/benchmarks/generation/generation_score/{model}_steps{block}.tsv"
    conda:
        "../envs/lmtraj.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=GPU,
        mem_mb=model_mem_mb(4000),
        runtime=model_runtime_min(30, 5),
    params:
        specs=block_specs,
        token_budget=GENERATION["scoring"]["token_budget"],
        dtype=config["dtype"],
    script:
        "../workflow_scripts/generation_score.py"


rule generation_corrupted:
    input:
        checkpoints=final_checkpoint_files,
        tokenizer=rules.corpus_tokenizer.output[0],
        tokens=rules.corpus_tokenize_valid.output[0],
    output:
        "results/generation/corrupted/{model}.tsv",
    log:
        "logs/generation/generation_corrupted/{model}.log",
    benchmark:
        "results/benchmarks/generation/generation_corrupted/{model}.tsv"
    conda:
        "../envs/lmtraj.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=GPU,
        mem_mb=model_mem_mb(4000),
        runtime=model_runtime_min(20, 2),
    params:
        spec=final_spec,
        corruption=GENERATION["corruption"],
        token_budget=GENERATION["scoring"]["token_budget"],
        seed=config["seed"],
        dtype=config["dtype"],
    script:
        "../workflow_scripts/generation_corrupted.py"


rule generation_collect:
    input:
        scores=[d for m in MODELS for d in block_dirs("generation", m)],
        checkpoints=rules.losses_checkpoints.output[0],
        corrupted=expand(rules.generation_corrupted.output[0], model=MODELS),
    output:
        perplexity="results/generation/perplexity.tsv",
        final=report(
            "results/generation/final_perplexity.tsv",
            caption="../report/generation_final_perplexity.rst",
            category="3. generation",
            labels={"result": "table: final-checkpoint perplexity of generated texts"},
        ),
        corrupted=report(
            "results/generation/corrupted.tsv",
            caption="../report/generation_corrupted_table.rst",
            category="3. generation",
            labels={"result": "table: perplexity of corrupted text"},
        ),
    log:
        "logs/generation/generation_collect.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(10),
    params:
        models=MODELS,
    script:
        "../workflow_scripts/generation_collect.py"


rule generation_plot:
    input:
        perplexity=rules.generation_collect.output.perplexity,
    output:
        flops=report(
            "results/generation/figures/generation_trajectories_{decoding}_{length}.png",
            caption="../report/generation_trajectories.rst",
            category="3. generation",
            labels={
                "result": "figure: PPL of generated texts over training, {decoding}, {length} new tokens (Fig. 6)",
            },
        ),
        valid_ppl=report(
            "results/generation/figures/generation_valid_ppl_{decoding}_{length}.png",
            caption="../report/generation_valid_ppl.rst",
            category="3. generation",
            labels={
                "result": "figure: PPL of generated texts vs validation PPL, {decoding}, {length} new tokens (Fig. 16)",
            },
        ),
    log:
        "logs/generation/generation_plot/{decoding}_{length}.log",
    wildcard_constraints:
        decoding="greedy|nucleus",
        length=r"\d+",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(5),
    params:
        models=MODELS,
    script:
        "../workflow_scripts/generation_plot.py"


rule generation_plot_corrupted:
    input:
        corrupted=rules.generation_collect.output.corrupted,
    output:
        report(
            "results/generation/figures/generation_corrupted.png",
            caption="../report/generation_corrupted.rst",
            category="3. generation",
            labels={"result": "figure: corrupted text vs model size (Fig. 5 left)"},
        ),
    log:
        "logs/generation/generation_plot_corrupted.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(5),
    params:
        models=MODELS,
    script:
        "../workflow_scripts/generation_plot_corrupted.py"


TARGETS["generation"] = lambda: [
    rules.generation_collect.output.final,
    rules.generation_decode.output.tsv,
    rules.generation_plot_corrupted.output[0],
    *GENERATION_FIGURES,
]
