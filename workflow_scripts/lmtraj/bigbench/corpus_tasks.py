"""Multiple-choice tasks built from held-out text, in BIG-bench's task.json format.

Tiny models stay at chance on BIG-bench, so these tasks give the downstream analysis a signal that
grows with training. Both use whitespace-separated words of the task documents (`corpus.task_documents`:
never seen in training, and disjoint from the perplexity and token-analysis sets) and a seeded generator, so a config fixes them exactly.

- `corpus_continuation`: after `prefix_words` words of a document, pick the true next
  `continuation_words` words among distractor spans of the same word count and similar character length
  (0.75x-1.33x) taken from other places of the task documents. Needs local coherence across the
  boundary and topic consistency.
- `corpus_next_word`: after `prefix_words` words, pick the true next word among distractor words of
  similar corpus frequency (nearest frequency ranks), so unigram frequency gives no hint. Needs syntax
  and word co-occurrence.

Prompts use `example_input_prefix` "" and `example_output_prefix` " " (the text simply continues) with
demonstrations separated by a blank line; choices are not listed in the prompt.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from lmtraj.errors import ConfigError, DataError

CANARY = "lm-trajectories corpus-derived task: held-out text, not for training"
TASK_TYPES = ("corpus_continuation", "corpus_next_word")
_FORMAT = {
    "task_prefix": "",
    "example_input_prefix": "",
    "example_output_prefix": " ",
    "append_choices_to_input": False,
    "few_shot_example_separator": "\n\n",
    "preferred_score": "multiple_choice_grade",
    "metrics": ["multiple_choice_grade"],
}


class _Words:
    """All documents' words in one array, with for each word the end of its document."""

    def __init__(self, texts: list[str]):
        docs = [t.split() for t in texts]
        self.words = np.array([w for d in docs for w in d], dtype=object)
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        ends = np.cumsum(lengths)
        self.doc_end = np.repeat(ends, lengths)
        self.doc_start = np.repeat(ends - lengths, lengths)

    def positions(self, before: int, after: int) -> np.ndarray:
        """Word indices p with `before` words before and `after` words from p on in the same document."""
        p = np.arange(len(self.words))
        return p[(p - self.doc_start >= before) & (self.doc_end - p >= after)]

    def span(self, p: int, n: int) -> str:
        return " ".join(self.words[p : p + n])


def _task(name: str, description: str, examples: list[dict]) -> dict:
    return {
        "canary": CANARY,
        "name": name,
        "description": description,
        "keywords": ["multiple choice", "corpus-derived", "language modeling"],
        **_FORMAT,
        "examples": examples,
    }


def _check(n_items: int, n_choices: int, prefix_words: int) -> None:
    if n_items < 3:
        raise ConfigError(f"bigbench.corpus_tasks.n_items must be >= 3, got {n_items}")
    if n_choices < 2:
        raise ConfigError(f"bigbench.corpus_tasks.n_choices must be >= 2, got {n_choices}")
    if prefix_words < 1:
        raise ConfigError(f"bigbench.corpus_tasks.prefix_words must be >= 1, got {prefix_words}")


def continuation_task(
    texts: list[str],
    *,
    n_items: int,
    n_choices: int = 4,
    prefix_words: int = 16,
    continuation_words: int = 3,
    seed: int = 0,
) -> dict:
    """`corpus_continuation` as a task.json dict (see the module docstring)."""
    _check(n_items, n_choices, prefix_words)
    if continuation_words < 1:
        raise ConfigError(
            f"bigbench.corpus_tasks.continuation_words must be >= 1, got {continuation_words}"
        )
    words = _Words(texts)
    anchors = words.positions(prefix_words, continuation_words)
    spans = words.positions(0, continuation_words)
    if len(anchors) < n_items or len(spans) < 10 * n_choices:
        raise DataError(
            f"corpus_continuation: the task documents have {len(anchors)} usable positions for "
            f"{n_items} items of {prefix_words}+{continuation_words} words; lower n_items or prefix_words"
        )
    rng = np.random.default_rng(seed)
    span_chars = np.array([len(words.span(p, continuation_words)) for p in spans])
    examples = []
    for p in rng.choice(anchors, size=n_items, replace=False):
        true = words.span(p, continuation_words)
        # Distractors: similar length, from at least a prefix away (never an overlapping span).
        ok = (np.abs(spans - p) > prefix_words + continuation_words) & (
            np.abs(np.log(span_chars / max(len(true), 1))) <= np.log(4 / 3)
        )
        pool = (
            spans[ok]
            if ok.sum() >= 4 * n_choices
            else spans[np.abs(spans - p) > continuation_words]
        )
        choices = [true]
        for q in rng.choice(pool, size=min(len(pool), 8 * n_choices), replace=False):
            cand = words.span(q, continuation_words)
            if cand not in choices:
                choices.append(cand)
            if len(choices) == n_choices:
                break
        order = rng.permutation(n_choices)
        examples.append(
            {
                "input": words.span(p - prefix_words, prefix_words),
                "target_scores": {choices[j]: int(j == 0) for j in order},
            }
        )
    return _task(
        "corpus_continuation",
        f"Pick the true {continuation_words}-word continuation of a {prefix_words}-word passage.",
        examples,
    )


def next_word_task(
    texts: list[str],
    *,
    n_items: int,
    n_choices: int = 4,
    prefix_words: int = 16,
    seed: int = 0,
) -> dict:
    """`corpus_next_word` as a task.json dict (see the module docstring)."""
    _check(n_items, n_choices, prefix_words)
    words = _Words(texts)
    counts = Counter(words.words.tolist())
    vocab = [w for w, _ in counts.most_common()]  # frequency rank order, ties by first appearance
    if len(vocab) < 4 * n_choices:
        raise DataError(f"corpus_next_word: only {len(vocab)} distinct words in the task documents")
    rank = {w: i for i, w in enumerate(vocab)}
    anchors = words.positions(prefix_words, 1)
    if len(anchors) < n_items:
        raise DataError(
            f"corpus_next_word: {len(anchors)} usable positions for {n_items} items; lower n_items"
        )
    rng = np.random.default_rng(seed)
    examples = []
    for p in rng.choice(anchors, size=n_items, replace=False):
        true = words.words[p]
        r = rank[true]
        # Nearest frequency ranks on both sides, excluding the true word and its case variants.
        lo, hi = max(0, r - 2 * n_choices), min(len(vocab), r + 2 * n_choices + 1)
        near = [w for w in vocab[lo:hi] if w.lower() != true.lower()]
        distractors = list(rng.choice(near, size=n_choices - 1, replace=False))
        choices = [true, *distractors]
        order = rng.permutation(n_choices)
        examples.append(
            {
                "input": words.span(p - prefix_words, prefix_words),
                "target_scores": {str(choices[j]): int(j == 0) for j in order},
            }
        )
    return _task(
        "corpus_next_word",
        f"Pick the word that follows a {prefix_words}-word passage among words of similar frequency.",
        examples,
    )


def build_corpus_tasks(
    texts: list[str],
    types: list[str],
    *,
    n_items: int,
    n_choices: int = 4,
    prefix_words: int = 16,
    continuation_words: int = 3,
    seed: int = 0,
) -> dict[str, dict]:
    """{task name: task.json dict} for the requested task types (each seeded from `seed`)."""
    unknown = [t for t in types if t not in TASK_TYPES]
    if unknown:
        raise ConfigError(
            f"bigbench.corpus_tasks.types: unknown {unknown}; allowed {list(TASK_TYPES)}"
        )
    texts = [t for t in texts if t.strip()]
    out = {}
    for k, name in enumerate(types):
        kwargs = {
            "n_items": n_items,
            "n_choices": n_choices,
            "prefix_words": prefix_words,
            "seed": seed + k,
        }
        if name == "corpus_continuation":
            out[name] = continuation_task(texts, continuation_words=continuation_words, **kwargs)
        else:
            out[name] = next_word_task(texts, **kwargs)
    return out
