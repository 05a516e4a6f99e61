# lm-trajectories: training trajectories of language models across scales (Xia et al., ACL 2023).
# The Snakefile is a table of contents; logic lives in rules/common.smk and workflow_scripts/lmtraj.
from snakemake.utils import min_version

min_version("9.0")


# A --configfile replaces the embedded default instead of being merged into it (merging would add the
# default's models to every other suite).
if not workflow.config_settings.configfiles:

    configfile: os.path.join(workflow.basedir, "config.yaml")


report: "report/workflow.rst"


# Several suites with their own tokenizers (a `families` config, e.g. config/pythia-olmo.yaml): each runs
# this workflow as a module under families/<name>/, then stage "families" compares them.
if "families" in config:

    include: "rules/families.smk"

    rule all:
        default_target: True
        input:
            families_targets(),

else:

    include: "rules/common.smk"
    include: "rules/corpus.smk"
    include: "rules/checkpoints.smk"
    include: "rules/losses.smk"
    include: "rules/trends.smk"
    include: "rules/generation.smk"
    include: "rules/bigbench.smk"
    include: "rules/regression.smk"
    include: "rules/report.smk"

    rule all:
        default_target: True
        input:
            all_targets(),
