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


# After a complete run: build the HTML report in-process and say where everything is. (`report-after-run`
# in profiles/default would build one after every dry run too, and fail before the outputs exist.)
onsuccess:
    import logging
    from pathlib import Path
    from snakemake.logging import logger

    report = Path("results/report.html")
    lines = [f"Results: {os.path.abspath('results')}/<stage>/, logs: logs/<stage>/"]
    # A complete run: no targets given (the default target) or the default target itself.
    targets = set(workflow.dag_settings.targets)
    complete = targets <= {workflow.default_target}
    if complete and not workflow.dag_settings.target_jobs:
        try:
            from snakemake.report import auto_report
            from snakemake.report.html_reporter import ReportSettings
            from snakemake.settings.types import GlobalReportSettings as Global
            from snakemake_interface_report_plugins.registry import (
                ReportPluginRegistry,
            )

            html = ReportPluginRegistry().get_plugin("html")
            level = logger.level
            # Not one "Adding <file>" line per result.
            logger.setLevel(logging.WARNING)
            try:
                made = auto_report(
                    workflow.dag, html, ReportSettings(path=report), Global()
                )
                workflow.async_run(made)
            finally:
                logger.setLevel(level)
            lines.append(f"Report: {report.resolve()} (open it in a browser)")
        # The run succeeded: never fail it over the report.
        except Exception as error:
            lines.append(f"Report not built ({error}): snakemake --report {report}")
    else:
        lines.append(f"Report of what exists so far: snakemake --report {report}")
    logger.info("\n".join(lines))
