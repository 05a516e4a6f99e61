# Stage "families": several suites with their own tokenizers in one run (config: families.suites).
# Each family is this workflow again, as a Snakemake module whose rules are named <family>_<rule> and
# whose files live under families/<family>/ (every per-suite analysis, on its own tokens). The rules
# below compare the families on what they share, the text: bits per byte of the validation text, one
# family's generated texts scored by another's checkpoints (paper §4.3, Fig. 7), and the findings pooled
# across families (accuracy vs bits per byte, size and compute, family as a factor).
include: "families_common.smk"


rule families_checkpoints:
    input:
        checkpoints=[family_file(f, "results/losses/checkpoints.tsv") for f in FAMILIES],
    output:
        report(
            "results/families/checkpoints.tsv",
            caption="../report/families_checkpoints.rst",
            category="0. families",
            labels={
                "result": "table: checkpoints of every family, with bits per byte"
            },
        ),
    log:
        "logs/families/families_checkpoints.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        families=FAMILIES,
    script:
        "../workflow_scripts/families_checkpoints.py"


rule families_plot_valid_bpb:
    input:
        checkpoints=rules.families_checkpoints.output[0],
    output:
        report(
            "results/families/figures/families_valid_bpb.png",
            caption="../report/families_valid_bpb.rst",
            category="0. families",
            labels={
                "result": "figure: bits per byte of the validation text, every family"
            },
        ),
    log:
        "logs/families/families_plot_valid_bpb.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        families=FAMILIES,
        models=FAMILY_MODELS,
    script:
        "../workflow_scripts/families_plot_valid_bpb.py"


rule families_generation_score:
    input:
        texts=lambda w: family_file(w.decoder, "results/generation/texts.jsonl"),
        tokenizer=lambda w: family_file(w.scorer, "results/corpus/tokenizer"),
        checkpoints=scorer_checkpoint_files,
        integrity=scorer_integrity,
    output:
        directory(
            "results/families/generation/{decoder}_by_{scorer}/{model}/steps{block}"
        ),
    log:
        "logs/families/families_generation_score/{decoder}_by_{scorer}/{model}_steps{block}.log",
    benchmark:
        "results/benchmarks/families/families_generation_score/{decoder}_by_{scorer}/{model}_steps{block}.tsv"
    conda:
        "../envs/lmtraj.yaml"
    threads: 1
    resources:
        gpu=int(config["gpus"]),
        mem_mb=lambda w, attempt: 4000 * attempt,
        runtime=lambda w, attempt: 30 * attempt,
    params:
        specs=scorer_specs,
        token_budget=FAMILY_STAGE["generation"]["token_budget"],
        dtype=config["dtype"],
        decoder_family=lambda w: w.decoder,
        scorer_family=lambda w: w.scorer,
    script:
        "../workflow_scripts/families_generation_score.py"


rule families_generation_collect:
    input:
        scores=cross_score_dirs(),
    output:
        table=report(
            "results/families/generation_perplexity.tsv",
            caption="../report/families_generation_perplexity.rst",
            category="0. families",
            labels={"result": "table: texts of one family scored by another (Fig. 7)"},
        ),
    log:
        "logs/families/families_generation_collect.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../workflow_scripts/families_generation_collect.py"


rule families_plot_generation:
    input:
        table=rules.families_generation_collect.output.table,
        checkpoints=rules.families_checkpoints.output[0],
    output:
        [
            report(
                f"results/families/figures/families_generation_{p['setting']}_{p['decoding']}_{p['max_new_tokens']}.png",
                caption="../report/families_generation.rst",
                category="0. families",
                labels={
                    "result": f"figure: {p['setting']} texts of one family scored by another, {p['decoding']} (Fig. 7)"
                },
            )
            for p in FAMILY_GENERATION_PANELS
        ],
    log:
        "logs/families/families_plot_generation.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        panels=FAMILY_GENERATION_PANELS,
    script:
        "../workflow_scripts/families_plot_generation.py"


rule families_findings:
    input:
        checkpoints=[family_file(f, "results/losses/checkpoints.tsv") for f in FAMILIES],
        means=[family_file(f, "results/bigbench/means.tsv") for f in FAMILIES],
    output:
        points="results/families/points.tsv",
        findings=report(
            "results/families/findings.tsv",
            caption="../report/families_findings.rst",
            category="0. families",
            labels={"result": "table: findings across families"},
        ),
    log:
        "logs/families/families_findings.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        families=FAMILIES,
        findings={
            "bootstrap": FAMILY_STAGE["findings"]["bootstrap"],
            "confidence": FAMILY_STAGE["findings"]["confidence"],
            "seed": (
                config["seed"]
                if FAMILY_STAGE["findings"]["seed"] is None
                else FAMILY_STAGE["findings"]["seed"]
            ),
        },
    script:
        "../workflow_scripts/families_findings.py"


include: "report_after_run.smk"
