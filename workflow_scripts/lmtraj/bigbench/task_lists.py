"""The paper's BIG-bench task lists as data (Xia et al. 2023, App. D) and task-name resolution."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lmtraj.errors import ConfigError

if (
    TYPE_CHECKING
):  # pandas is imported where used: the Snakefile imports this module to build the DAG
    pass

MAX_EXAMPLES_EXCLUSIVE = 1000
HAND_ADDED_TASKS = ("periodic_elements",)

# Paper Table 7 (alphabetical).
PAPER_TASKS = (
    "anachronisms",
    "analogical_similarity",
    "analytic_entailment",
    "authorship_verification",
    "causal_judgment",
    "cause_and_effect",
    "code_line_description",
    "common_morpheme",
    "conceptual_combinations",
    "crash_blossom",
    "crass_ai",
    "cryobiology_spanish",
    "dark_humor_detection",
    "date_understanding",
    "disambiguation_qa",
    "discourse_marker_prediction",
    "emoji_movie",
    "empirical_judgments",
    "english_russian_proverbs",
    "entailed_polarity",
    "entailed_polarity_hindi",
    "evaluating_information_essentiality",
    "fantasy_reasoning",
    "figure_of_speech_detection",
    "hhh_alignment",
    "hinglish_toxicity",
    "human_organs_senses",
    "identify_math_theorems",
    "identify_odd_metaphor",
    "implicatures",
    "implicit_relations",
    "intent_recognition",
    "international_phonetic_alphabet_nli",
    "irony_identification",
    "kannada",
    "key_value_maps",
    "known_unknowns",
    "logical_args",
    "logical_sequence",
    "mathematical_induction",
    "metaphor_boolean",
    "metaphor_understanding",
    "misconceptions",
    "misconceptions_russian",
    "moral_permissibility",
    "movie_recommendation",
    "nonsense_words_grammar",
    "odd_one_out",
    "penguins_in_a_table",
    "periodic_elements",
    "persian_idioms",
    "phrase_relatedness",
    "physical_intuition",
    "physics",
    "presuppositions_as_nli",
    "riddle_sense",
    "ruin_names",
    "salient_translation_error_detection",
    "sentence_ambiguity",
    "similarities_abstraction",
    "simple_arithmetic_json_multiple_choice",
    "simple_ethical_questions",
    "snarks",
    "social_support",
    "sports_understanding",
    "strange_stories",
    "suicide_risk",
    "swahili_english_proverbs",
    "symbol_interpretation",
    "understanding_fables",
    "undo_permutation",
    "unit_interpretation",
    "what_is_the_tao",
    "which_wiki_edit",
)

# Paper Table 9: tasks whose final-checkpoint scaling curve is linear / shows a breakthrough.
LINEARITY_TASKS = (
    "date_understanding",
    "fantasy_reasoning",
    "figure_of_speech_detection",
    "hhh_alignment",
    "implicit_relations",
    "intent_recognition",
    "misconceptions",
    "similarities_abstraction",
    "simple_ethical_questions",
    "strange_stories",
    "undo_permutation",
    "nonsense_words_grammar",
)
BREAKTHROUGHNESS_TASKS = (
    "code_line_description",
    "human_organs_senses",
    "phrase_relatedness",
    "swahili_english_proverbs",
    "what_is_the_tao",
    "implicatures",
)

TASK_SETS = {
    "paper74": PAPER_TASKS,
    "linearity": LINEARITY_TASKS,
    "breakthroughness": BREAKTHROUGHNESS_TASKS,
    "linearity+breakthroughness": LINEARITY_TASKS + BREAKTHROUGHNESS_TASKS,
}
_TASK_NAME = re.compile(r"^[a-z0-9_]+$")


def resolve_task_names(selection: str | Iterable[str]) -> list[str]:
    """A named set (`paper74`, `linearity`, `breakthroughness`, `linearity+breakthroughness`) or a list."""
    if isinstance(selection, str):
        if selection not in TASK_SETS:
            raise ConfigError(
                f"bigbench.tasks: unknown task set {selection!r}; use one of {sorted(TASK_SETS)} "
                "or a list of task names"
            )
        return list(TASK_SETS[selection])
    names = list(dict.fromkeys(selection))  # keep order, drop repeats
    for name in names:
        if not isinstance(name, str) or not _TASK_NAME.match(name):
            raise ConfigError(f"bigbench.tasks: task name {name!r} must match [a-z0-9_]+")
    return names
