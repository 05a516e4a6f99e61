# Stage "trends" (paper §3, App. B): per-token trend classes over the late part of training, group
# perplexity of selected tokens across models (double descent), the "same tokens at the same
# perplexity" overlap, Figures 2, 3, 4, 10, 11, 12 and Table 3.
from lmtraj.regression.bootstrap import bootstrap_params
from lmtraj.trends.classes import CLASSES, check_fraction, pick_models
from lmtraj.trends.double_descent import default_selector

TRENDS = config["trends"]
# The units classified (trends.units): tokens of the suite's tokenizer, or whitespace-delimited words,
# which every tokenizer shares (a word's NLL sums its tokens'; lmtraj.losses.words).
TRENDS_INDEX, TRENDS_TRAJECTORY = (
    (rules.losses_word_index.output.index, rules.losses_word_trajectory.output[0])
    if TRENDS["units"] == "words"
    else (rules.losses_index.output[0], rules.losses_trajectory.output.trajectory)
)
TRENDS_THRESHOLDS = {
    key: TRENDS[key]
    for key in ["p_value", "tolerance", "strict", "ratio", "variance_rule"]
}


TRENDS_SELECTORS = pick_models(
    TRENDS["figures"]["selectors"], MODELS, "figures.selectors"
)
TRENDS_FIGURE_FRACTION = check_fraction(
    TRENDS["figures"]["fraction"], TRENDS["fractions"], "figures.fraction"
)
TRENDS_TABLE_MODELS = pick_models(
    TRENDS["token_table"]["models"], MODELS, "token_table.models"
)
TRENDS_TABLE_FRACTION = check_fraction(
    TRENDS["token_table"]["fraction"], TRENDS["fractions"], "token_table.fraction"
)
# Token-level double descent: the selector's upward tokens followed in every larger model.
TRENDS_DD_SELECTOR = (
    default_selector(MODELS, TRENDS["double_descent"]["selector"])
    if len(MODELS) >= 2
    else None
)
TRENDS_DD_FRACTION = check_fraction(
    TRENDS["double_descent"]["fraction"], TRENDS["fractions"], "double_descent.fraction"
)
# Intervals of the findings' statistics (shared with the regression stage's findings table).
TRENDS_BOOTSTRAP = bootstrap_params(config["regression"]["findings"], config["seed"])


rule trends_classify:
    input:
        trajectory=TRENDS_TRAJECTORY,
        checkpoints=rules.losses_trajectory.output.checkpoints,
        tokens=TRENDS_INDEX,
    output:
        tokens="results/trends/{model}/tokens.parquet",
        shares="results/trends/{model}/shares.tsv",
    log:
        "logs/trends/trends_classify/{model}.log",
    benchmark:
        "results/benchmarks/trends/trends_classify/{model}.tsv"
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime_min(10),
    params:
        fractions=TRENDS["fractions"],
        regressor=TRENDS["regressor"],
        thresholds=TRENDS_THRESHOLDS,
    script:
        "../workflow_scripts/trends_classify.py"


rule trends_collect:
    input:
        shares=expand(rules.trends_classify.output.shares, model=MODELS),
    output:
        report(
            "results/trends/shares.tsv",
            caption="../report/trends_shares_table.rst",
            category="2. trends",
            labels={"result": "table: share of tokens per trend class"},
        ),
    log:
        "logs/trends/trends_collect.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(5),
    script:
        "../workflow_scripts/trends_collect.py"


rule trends_double_descent:
    input:
        tokens=expand(rules.trends_classify.output.tokens, model=MODELS),
        trajectories=expand(TRENDS_TRAJECTORY, model=MODELS),
        checkpoints=rules.losses_checkpoints.output[0],
    output:
        curves="results/trends/group_curves.tsv",
        table=report(
            "results/trends/double_descent.tsv",
            caption="../report/trends_double_descent.rst",
            category="2. trends",
            labels={"result": "table: double descent of selected tokens"},
        ),
        patterns=report(
            "results/trends/double_descent_patterns.tsv",
            caption="../report/trends_double_descent_patterns.rst",
            category="2. trends",
            labels={"result": "table: per-token patterns of selected tokens"},
        ),
        tokens=report(
            "results/trends/double_descent_tokens.tsv",
            caption="../report/trends_double_descent_tokens.rst",
            category="2. trends",
            labels={"result": "table: token-level double descent"},
        ),
    log:
        "logs/trends/trends_double_descent.log",
    benchmark:
        "results/benchmarks/trends/trends_double_descent.tsv"
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(8000),
        runtime=runtime_min(20),
    params:
        models=MODELS,
        fractions=TRENDS["fractions"],
        delta=TRENDS["double_descent"]["delta"],
        pattern_classes=TRENDS["double_descent"]["pattern_classes"],
        selector=TRENDS_DD_SELECTOR,
        selection_fraction=TRENDS_DD_FRACTION,
        token_delta=TRENDS["double_descent"]["token_delta"],
        bootstrap=TRENDS_BOOTSTRAP,
    script:
        "../workflow_scripts/trends_double_descent.py"


rule trends_overlap:
    input:
        trajectories=expand(TRENDS_TRAJECTORY, model=MODELS),
        checkpoints=rules.losses_checkpoints.output[0],
        tokens=TRENDS_INDEX,
    output:
        detail="results/trends/overlap.tsv",
        summary=report(
            "results/trends/overlap_summary.tsv",
            caption="../report/trends_overlap.rst",
            category="2. trends",
            labels={"result": "table: same tokens at the same perplexity"},
        ),
        tests=report(
            "results/trends/overlap_tests.tsv",
            caption="../report/trends_overlap_tests.rst",
            category="2. trends",
            labels={"result": "table: matchings compared (paired)"},
        ),
    log:
        "logs/trends/trends_overlap.log",
    benchmark:
        "results/benchmarks/trends/trends_overlap.tsv"
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(8000),
        runtime=runtime_min(20),
    params:
        models=MODELS,
        top_k=TRENDS["overlap"]["top_k"],
        matchings=TRENDS["overlap"]["matchings"],
        bootstrap=TRENDS_BOOTSTRAP,
    script:
        "../workflow_scripts/trends_overlap.py"


rule trends_plot_shares:
    input:
        shares=rules.trends_collect.output[0],
    output:
        report(
            "results/trends/figures/trends_shares.png",
            caption="../report/trends_shares.rst",
            category="2. trends",
            labels={"result": "figure: share of tokens per trend class (Fig. 2)"},
        ),
    log:
        "logs/trends/trends_plot_shares.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(5),
    params:
        models=MODELS,
    script:
        "../workflow_scripts/trends_plot_shares.py"


rule trends_plot_groups:
    input:
        curves=rules.trends_double_descent.output.curves,
    output:
        report(
            "results/trends/figures/trends_groups_{trend_class}_{axis}.png",
            caption="../report/trends_groups.rst",
            category="2. trends",
            labels={
                "result": "figure: group perplexity of {trend_class} tokens vs {axis} (Figs. 3, 4, 10-12)",
            },
        ),
    log:
        "logs/trends/trends_plot_groups/{trend_class}_{axis}.log",
    wildcard_constraints:
        trend_class="|".join(CLASSES),
        axis="flops|valid_ppl",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(5),
    params:
        models=MODELS,
        selectors=["own", *TRENDS_SELECTORS],
        fraction=TRENDS_FIGURE_FRACTION,
    script:
        "../workflow_scripts/trends_plot_groups.py"


rule trends_token_table:
    input:
        tokens=TRENDS_INDEX,
        classes=expand(rules.trends_classify.output.tokens, model=TRENDS_TABLE_MODELS),
    output:
        report(
            "results/trends/trends_token_table.html",
            caption="../report/trends_token_table.rst",
            category="2. trends",
            labels={"result": "table: tokens coloured by trend class (Table 3)"},
        ),
    log:
        "logs/trends/trends_token_table.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(5),
    params:
        models=TRENDS_TABLE_MODELS,
        fraction=TRENDS_TABLE_FRACTION,
        doc=TRENDS["token_table"]["doc"],
        max_tokens=TRENDS["token_table"]["max_tokens"],
    script:
        "../workflow_scripts/trends_token_table.py"


TARGETS["trends"] = lambda: [
    rules.trends_plot_shares.output[0],
    rules.trends_double_descent.output.table,
    rules.trends_double_descent.output.patterns,
    rules.trends_overlap.output.summary,
    rules.trends_token_table.output[0],
    *expand(
        "results/trends/figures/trends_groups_{trend_class}_{axis}.png",
        trend_class=TRENDS["figures"]["classes"],
        axis=["flops", "valid_ppl"],
    ),
]
