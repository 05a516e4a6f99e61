# Stage "regression": is validation perplexity a better predictor of accuracy than size or compute?
# OLS fits and leave-one-size-out errors (lmtraj.regression.fits), their figures, and the findings table that
# checks the abstract's three findings on this run (lmtraj.regression.findings; shown first in the report).
from lmtraj.regression.bootstrap import bootstrap_params

REGRESSION = config["regression"]
# The fit needs accuracies: without the bigbench stage only the findings table is made (finding 3 then
# says "not in this run").
REGRESSION_FIT = stage_enabled("bigbench")


REGRESSION_FIT_INPUTS = {
    "checkpoints": rules.losses_checkpoints.output[0],
    "task_scores": rules.bigbench_collect.output.tasks,
    **(
        {"trend_shares": rules.trends_collect.output[0]}
        if stage_enabled("trends")
        else {}
    ),
}


rule regression_fit:
    input:
        **REGRESSION_FIT_INPUTS,
    output:
        points="results/regression/points.tsv",
        predictions="results/regression/predictions.tsv",
        fits=report(
            "results/regression/fits.tsv",
            caption="../report/regression_fits.rst",
            category="5. regression",
            labels={"result": "table: in-sample fits (R², AIC, BIC)"},
        ),
        coefficients=report(
            "results/regression/coefficients.tsv",
            caption="../report/regression_coefficients.rst",
            category="5. regression",
            labels={"result": "table: coefficients with confidence intervals"},
        ),
        loso_folds=report(
            "results/regression/loso_folds.tsv",
            caption="../report/regression_loso_folds.rst",
            category="5. regression",
            labels={"result": "table: leave-one-size-out error per held-out model"},
        ),
        loso_summary=report(
            "results/regression/loso_summary.tsv",
            caption="../report/regression_loso_summary.rst",
            category="5. regression",
            labels={"result": "table: leave-one-size-out error per predictor"},
        ),
        html=report(
            "results/regression/regression_summary.html",
            caption="../report/regression_summary.rst",
            category="5. regression",
            labels={"result": "table: summary of the pooled responses"},
        ),
    log:
        "logs/regression/regression_fit.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(10),
    params:
        params=REGRESSION["params"],
        predictors=REGRESSION["predictors"],
        min_clusters=REGRESSION["min_clusters"],
        alpha=REGRESSION["alpha"],
    script:
        "../workflow_scripts/regression_fit.py"


rule regression_plot:
    input:
        predictions=rules.regression_fit.output.predictions,
        loso_summary=rules.regression_fit.output.loso_summary,
    output:
        observed=report(
            "results/regression/figures/regression_observed_vs_predicted.png",
            caption="../report/regression_observed_vs_predicted.rst",
            category="5. regression",
            labels={"result": "figure: observed vs predicted mean accuracy"},
        ),
        loso=report(
            "results/regression/figures/regression_loso_rmse.png",
            caption="../report/regression_loso_rmse.rst",
            category="5. regression",
            labels={"result": "figure: leave-one-size-out error per predictor"},
        ),
    log:
        "logs/regression/regression_plot.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(5),
    params:
        models=MODELS,
    script:
        "../workflow_scripts/regression_plot.py"


# Each finding's input if its stage is part of the run; an absent one is reported as such.
REGRESSION_FINDINGS_INPUTS = {
    "checkpoints": rules.losses_checkpoints.output[0],
    **(
        {
            "overlap_tests": rules.trends_overlap.output.tests,
            "double_descent": rules.trends_double_descent.output.tokens,
        }
        if stage_enabled("trends")
        else {}
    ),
    **(
        {
            "texts": rules.generation_decode.output.jsonl,
            "text_scores": [d for m in MODELS for d in block_dirs("generation", m)],
        }
        if stage_enabled("generation")
        else {}
    ),
    **(
        {
            "tasks": rules.bigbench_collect.output.tasks,
            "item_scores": rules.bigbench_collect.output.per_item,
        }
        if stage_enabled("bigbench")
        else {}
    ),
}


rule regression_findings:
    input:
        **REGRESSION_FINDINGS_INPUTS,
    output:
        tsv=report(
            "results/regression/findings.tsv",
            caption="../report/regression_findings.rst",
            category="0. findings",
            labels={"result": "table: findings (TSV)"},
        ),
        html=report(
            "results/regression/findings.html",
            caption="../report/regression_findings_html.rst",
            category="0. findings",
            labels={"result": "table: findings"},
        ),
    log:
        "logs/regression/regression_findings.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime_min(5),
    params:
        models=MODELS,
        generation_setting=REGRESSION["generation_setting"],
        generation_start_fraction=REGRESSION["generation_start_fraction"],
        findings={
            key: REGRESSION["findings"][key]
            for key in ["control_setting", "size_margin"]
        },
        bootstrap=bootstrap_params(REGRESSION["findings"], config["seed"]),
        metric=config["bigbench"]["metric"],
        min_clusters=REGRESSION["min_clusters"],
        params=REGRESSION["params"],
    script:
        "../workflow_scripts/regression_findings.py"


TARGETS["regression"] = lambda: [
    rules.regression_findings.output.tsv,
    *(
        [rules.regression_fit.output.html, *rules.regression_plot.output]
        if REGRESSION_FIT
        else []
    ),
]
