# Everything of stage "families" that is not a rule: the families' configs, one module per family,
# and the input functions of the comparison rules (rules/families.smk).
import os
import re
import sys

from snakemake.utils import validate

sys.path.insert(0, os.path.join(workflow.basedir, "workflow_scripts"))

from lmtraj.families import suites  # noqa: E402

validate(config, schema="../schemas/families.schema.yaml", set_default=True)
FAMILY_CONFIGS = suites.family_configs(config["families"], workflow.basedir)
for _family_config in FAMILY_CONFIGS.values():
    # Defaults filled in here too: the rules below read the families' settings.
    validate(_family_config, schema="../schemas/config.schema.yaml", set_default=True)
FAMILIES = list(FAMILY_CONFIGS)
FAMILY_MODELS = {f: list(c["models"]) for f, c in FAMILY_CONFIGS.items()}
FAMILY_STAGE = config["families"]
# Relative, so no absolute path reaches a param (a moved project stays up to date).
WORKFLOW_REL = os.path.relpath(workflow.basedir)

# The `module` statement takes a literal name; its Python form takes the family's.
for _name, _family_config in FAMILY_CONFIGS.items():
    workflow.module(
        _name,
        snakefile=os.path.join(workflow.basedir, "Snakefile"),
        config=_family_config,
        prefix=suites.family_dir(_name),
    )
    workflow.userule(
        rules=["*"], from_module=_name, exclude_rules=[], name_modifier=f"{_name}_*"
    )(lambda: None)


wildcard_constraints:
    family="|".join(FAMILIES),
    scorer="|".join(FAMILIES),
    decoder="|".join(FAMILIES),
    model="|".join(re.escape(m) for ms in FAMILY_MODELS.values() for m in ms),
    block=r"\d+-\d+",


def family_file(family, path):
    return os.path.join(suites.family_dir(family), path)


def scorer_blocks(wildcards):
    return suites.model_blocks(FAMILY_CONFIGS[wildcards.scorer], wildcards.model)[
        wildcards.block
    ]


def scorer_checkpoint_files(wildcards):
    cfg = FAMILY_CONFIGS[wildcards.scorer]
    return [
        f
        for s in scorer_blocks(wildcards)
        for f in suites.model_files(
            wildcards.scorer, cfg, wildcards.model, s, WORKFLOW_REL
        )
    ]


def scorer_specs(wildcards):
    cfg = FAMILY_CONFIGS[wildcards.scorer]
    return [
        suites.model_spec(wildcards.scorer, cfg, wildcards.model, s, WORKFLOW_REL)
        for s in scorer_blocks(wildcards)
    ]


def scorer_integrity(wildcards):
    cfg = FAMILY_CONFIGS[wildcards.scorer]
    if cfg["models"][wildcards.model]["source"] != "hf":
        return []
    return [ancient(family_file(wildcards.scorer, "results/checkpoints/integrity.tsv"))]


def generation_pairs():
    """(decoder, scorer) pairs of different families whose decoders generate texts."""
    if not FAMILY_STAGE["generation"]["enabled"]:
        return []
    decoders = [f for f in FAMILIES if FAMILY_CONFIGS[f]["generation"]["enabled"]]
    return [(d, s) for d in decoders for s in FAMILIES if s != d]


def cross_score_dirs():
    return [
        f"results/families/generation/{decoder}_by_{scorer}/{model}/steps{block}"
        for decoder, scorer in generation_pairs()
        for model in FAMILY_MODELS[scorer]
        for block in suites.model_blocks(FAMILY_CONFIGS[scorer], model)
    ]


def _panels():
    """(setting, decoding, length) combinations every decoding family generated."""
    decoders = {d for d, _ in generation_pairs()}
    shared = None
    for family in decoders:
        g = FAMILY_CONFIGS[family]["generation"]
        combos = [
            (s, d, int(n))
            for s in g["settings"]
            for d in g["decodings"]
            for n in g["max_new_tokens"]
        ]
        shared = combos if shared is None else [c for c in shared if c in combos]
    return [
        {"setting": s, "decoding": d, "max_new_tokens": n} for s, d, n in shared or []
    ]


FAMILY_GENERATION_PANELS = _panels()


def families_targets():
    """Every family's own targets, then the comparisons: the Snakefile's rule all, called after
    rules/families.smk has defined the rules named here."""
    out = [getattr(rules, f"{f}_all").input for f in FAMILIES]
    out.append(rules.families_plot_valid_bpb.output[0])
    if generation_pairs():
        out += list(rules.families_plot_generation.output)
    if all(FAMILY_CONFIGS[f]["bigbench"]["enabled"] for f in FAMILIES):
        out.append(rules.families_findings.output.findings)
    return out
