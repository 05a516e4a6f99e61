# Stage "report": what `snakemake --report results/report.html` needs besides the stages' own outputs:
# the configuration of the run (defaults filled in by the schema) and the software versions.
import importlib.metadata

REPORT_PACKAGES = [
    "snakemake",
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "statsmodels",
    "matplotlib",
]


# Versions are read when the workflow is parsed and passed as params, so an upgrade reruns the rule.
REPORT_VERSIONS = {
    (dist.metadata["Name"] or "").lower(): dist.version
    for dist in importlib.metadata.distributions()
    if (dist.metadata["Name"] or "").lower() in REPORT_PACKAGES
}


rule report_run_info:
    output:
        info=report(
            "results/report/run_info.tsv",
            caption="../report/report_run_info.rst",
            category="6. run",
            labels={"result": "table: software versions and run details"},
        ),
        config=report(
            "results/report/config.yaml",
            caption="../report/report_config.rst",
            category="6. run",
            labels={"result": "table: configuration of the run"},
        ),
    log:
        "logs/report/report_run_info.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(500),
        runtime=runtime_min(5),
    params:
        # The whole config: this rule documents it, so any config change must rewrite it.
        config=config,
        models=MODELS,
        packages=REPORT_PACKAGES,
        versions=REPORT_VERSIONS,
    script:
        "../workflow_scripts/report_run_info.py"


TARGETS["report"] = lambda: list(rules.report_run_info.output)


include: "report_after_run.smk"
