# Stage "report", after a complete run: the HTML report and where everything is. Included by
# rules/report.smk and, for a run of several families, rules/families.smk (Snakemake keeps the handler
# of the main workflow only, not a module's).
import os


# Built in-process: `report-after-run` in profiles/default would build one after every dry run too,
# and fail before the outputs exist.
onsuccess:
    import logging
    from pathlib import Path
    from snakemake.logging import logger

    report = Path("results/report.html")
    lines = [f"Results: {os.path.abspath('results')}/<stage>/, logs: logs/<stage>/"]
    if "families" in config:
        lines.append(
            f"Each family: {os.path.abspath('families')}/<family>/results/<stage>/ (and logs/)"
        )
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
