"""BIG-bench task.json -> k-shot multiple-choice prompts -> token ids, following BIG-bench's own code.

Formatting (bigbench/api/json_task.py, `default_format_fn` and `make_nshot_dataset`, bigbench 1.0.0):
- per task.json (each subtask has its own): `task_prefix` (default ""), `example_input_prefix`
  ("\\nQ: "), `example_output_prefix` ("\\nA: "), `choice_prefix` ("\\n  choice: "),
  `append_choices_to_input` (true; the value's Python truth is used, as BIG-bench does, so the string
  "false" that three tasks carry still appends), `few_shot_example_separator` ("\\n").
- an example's formatted input is `input_prefix + input [+ choice_prefix + choice_prefix.join(choices)]
  + output_prefix`, the appended choices being `sorted(choices)` permuted by a fresh
  `np.random.RandomState(seed)`;
- a k-shot prompt is `task_prefix + sep.join([demo_1, ..., demo_k, query])` where demo = formatted input
  + answer (the example's `target`, else its first top-scored choice);
- one RandomState(seed) per (sub)task first permutes the examples (the query order; a cap keeps the
  first `cap` of the permutation), then, per query, draws k demonstrations among the other examples
  and one answer per demonstration. With the default seed 42 this reproduces BIG-bench's own prompts.
- duplicate examples are dropped first (as BIG-bench does); a cap on a container task is split evenly
  over its subtasks (`cap // n_subtasks` each).

Options are scored as continuations of the prompt. Trailing whitespace of the prompt moves to the front
of each continuation (lm-evaluation-harness's convention: BPE tokenizers encode " yes" as one token),
and character and byte counts are those of the choice text itself (lm-eval's acc_norm).

Long prompts (`encode_item`): demonstrations are dropped first, oldest first, until the context plus
the longest option fits `max_tokens`; if the bare query still does not fit, the context is cut from the
left. Both are counted on the item (`n_demos`, `truncated_tokens`). An option that leaves no room for
a single context token raises `PromptTooLong`; `encode_items` leaves such items out and names them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lmtraj.errors import DataError

DEFAULT_INPUT_PREFIX = "\nQ: "
DEFAULT_OUTPUT_PREFIX = "\nA: "
DEFAULT_CHOICE_PREFIX = "\n  choice: "
DEFAULT_SEPARATOR = "\n"
BIGBENCH_SEED = 42


class PromptTooLong(DataError):
    """An option leaves no room for any context within the model's positions."""


@dataclass(frozen=True)
class PromptItem:
    """One scored example of a task, with its demonstrations, ready to be rendered at any shot count."""

    task: str
    item: int  # position among the task's scored items
    subtask: str  # "" for a task without subtasks
    example: int  # index of the example in its task.json's `examples`
    task_prefix: str
    separator: str
    demos: tuple[str, ...]  # formatted demonstrations (input + answer), prompt order
    demo_examples: tuple[int, ...]  # their indices in `examples`
    query: str  # formatted input of the scored example, ending with the output prefix
    choices: tuple[str, ...]  # the options, in the order of target_scores
    scores: tuple[float, ...]
    correct: int  # index of the (first) top-scored choice

    def context(self, n_demos: int | None = None) -> str:
        """The prompt text with the last `n_demos` demonstrations (all by default)."""
        demos = self.demos if n_demos is None else self.demos[len(self.demos) - n_demos :]
        return self.task_prefix + self.separator.join([*demos, self.query])


@dataclass(frozen=True)
class EncodedItem:
    """Token ids of one item: the shared context and one id sequence per option."""

    task: str
    item: int
    context_ids: np.ndarray  # int64, >= 1 token
    option_ids: tuple[np.ndarray, ...]  # int64, >= 1 token each
    n_demos: int
    truncated_tokens: int


def _where(task: str, subtask: str, example: int | None = None) -> str:
    where = f"task {task!r}" + (f" subtask {subtask!r}" if subtask else "")
    return where + (f" example {example}" if example is not None else "")


def _check_example(ex: object, task: str, subtask: str, index: int) -> dict:
    if not isinstance(ex, dict) or not isinstance(ex.get("input"), str):
        raise DataError(
            f"{_where(task, subtask, index)}: an example must be an object with a string 'input'"
        )
    scores = ex.get("target_scores")
    if not isinstance(scores, dict) or not scores:
        raise DataError(
            f"{_where(task, subtask, index)}: 'target_scores' must be a non-empty object"
        )
    for choice, score in scores.items():
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            raise DataError(
                f"{_where(task, subtask, index)}: score of choice {choice!r} is {score!r}, not a number"
            )
    values = list(scores.values())
    top, low = max(values), min(values)
    if (len(values) == 1 and top == 0) or (len(values) > 1 and top <= low):
        raise DataError(
            f"{_where(task, subtask, index)} has no correct target (all scores equal {top}): "
            f"{ex['input'][:80]!r}"
        )
    return ex


def _format_example(ex: dict, fmt: dict, seed: int) -> tuple[str, tuple[str, ...]]:
    """BIG-bench's `default_format_fn`: (formatted input, demonstration answers)."""
    scores = ex["target_scores"]
    text = ex["input"]
    if fmt["append_choices"]:
        permuted = np.random.RandomState(seed=seed).permutation(sorted(scores))
        text = text + fmt["choice_prefix"] + fmt["choice_prefix"].join(str(c) for c in permuted)
    target = ex.get("target")
    if target is not None and target != []:
        answers = tuple(target) if isinstance(target, list) else (target,)
    else:
        top = max(scores.values())
        answers = (next(k for k, v in scores.items() if v == top),)
    return fmt["input_prefix"] + text + fmt["output_prefix"], tuple(str(a) for a in answers)


def _format_of(data: dict) -> dict:
    return {
        "task_prefix": str(data.get("task_prefix", "")),
        "input_prefix": data.get("example_input_prefix", DEFAULT_INPUT_PREFIX),
        "output_prefix": data.get("example_output_prefix", DEFAULT_OUTPUT_PREFIX),
        "choice_prefix": data.get("choice_prefix", DEFAULT_CHOICE_PREFIX),
        "append_choices": bool(data.get("append_choices_to_input", True)),
        "separator": data.get("few_shot_example_separator", DEFAULT_SEPARATOR),
    }


def _subtask_items(
    task: str, subtask: str, data: dict, shots: int, seed: int, cap: int | None, first_item: int
) -> list[PromptItem]:
    examples = data.get("examples")
    if not isinstance(examples, list):
        raise DataError(f"{_where(task, subtask)}: 'examples' must be a list")
    # BIG-bench drops exact duplicates first (keeping the first); a non-MC example is not scored here.
    first: dict[str, int] = {}
    for i, e in enumerate(examples):
        first.setdefault(json.dumps(e), i)
    index = [
        i
        for i in first.values()
        if isinstance(examples[i], dict) and "target_scores" in examples[i]
    ]
    mc = [_check_example(examples[i], task, subtask, i) for i in index]
    if not mc:
        return []
    if len(mc) < shots + 1:
        raise DataError(
            f"{_where(task, subtask)} has {len(mc)} distinct multiple-choice example(s); "
            f"{shots}-shot prompts need at least {shots + 1}"
        )
    fmt = _format_of(data)
    formatted = [_format_example(e, fmt, seed) for e in mc]
    rng = np.random.RandomState(seed=seed)
    n_query = len(mc) if cap is None else min(cap, len(mc))
    # Same draws as BIG-bench's make_nshot_dataset (rng.choice without replacement = permutation).
    order = rng.permutation(len(mc))[:n_query] if shots > 0 or n_query < len(mc) else range(len(mc))
    items = []
    for q in order:
        q = int(q)
        others = [i for i in range(len(mc)) if i != q]
        demo_idx = [others[j] for j in rng.permutation(len(others))[:shots]] if shots else []
        demos = []
        for d in demo_idx:
            text, answers = formatted[d]
            demos.append(text + answers[rng.randint(0, len(answers))])
        scores = mc[q]["target_scores"]
        values = list(scores.values())
        items.append(
            PromptItem(
                task=task,
                item=first_item + len(items),
                subtask=subtask,
                example=index[q],
                task_prefix=fmt["task_prefix"],
                separator=fmt["separator"],
                demos=tuple(demos),
                demo_examples=tuple(index[d] for d in demo_idx),
                query=formatted[q][0],
                choices=tuple(str(c) for c in scores),
                scores=tuple(float(v) for v in values),
                correct=int(np.argmax(values)),
            )
        )
    return items


def build_items(
    task: dict, name: str, *, shots: int = 2, seed: int = BIGBENCH_SEED, cap: int | None = None
) -> list[PromptItem]:
    """All scored items of a task dict (from `bigbench_tasks.load_task`), BIG-bench's k-shot prompts."""
    if shots < 0:
        raise DataError(f"task {name!r}: shots must be >= 0, got {shots}")
    if cap is not None and cap < 1:
        raise DataError(f"task {name!r}: the example cap must be >= 1, got {cap}")
    subtasks = task.get("subtasks")
    if subtasks is None:
        parts = [("", task)]
    else:
        parts = [(str(s.get("name", i)), s) for i, s in enumerate(subtasks)]
    sub_cap = cap
    if cap is not None and len(parts) > 1:
        sub_cap = max(1, cap // len(parts))
    items: list[PromptItem] = []
    for subtask, data in parts:
        if not isinstance(data, dict):
            raise DataError(f"{_where(name, subtask)}: a task.json must hold a JSON object")
        items += _subtask_items(name, subtask, data, shots, seed, sub_cap, len(items))
    if not items:
        raise DataError(
            f"task {name!r} has no multiple-choice example (no 'target_scores') to score"
        )
    return items


def split_whitespace(context: str, choices: Sequence[str]) -> tuple[str, list[str]]:
    """Move the context's trailing whitespace to the front of every continuation."""
    stripped = context.rstrip()
    tail = context[len(stripped) :]
    return stripped, [tail + c for c in choices]


def encode_item(
    it: PromptItem,
    encode: Callable[[str], Sequence[int]],
    max_tokens: int,
    empty_context_id: int | None = None,
) -> EncodedItem:
    """Token ids of an item whose context + longest option fit in `max_tokens` (see module docstring)."""
    where = _where(it.task, it.subtask, it.example)
    _, conts = split_whitespace(it.context(0), it.choices)
    options = tuple(np.asarray(encode(c), dtype=np.int64) for c in conts)
    for j, ids in enumerate(options):
        if ids.size == 0:
            raise DataError(f"{where}: option {j} ({it.choices[j]!r}) encodes to no token")
    longest = max(ids.size for ids in options)
    if longest + 1 > max_tokens:
        raise PromptTooLong(
            f"{where}: option of {longest} tokens leaves no room for context within the model's "
            f"{max_tokens} positions"
        )
    for n_demos in range(len(it.demos), -1, -1):
        context, _ = split_whitespace(it.context(n_demos), it.choices)
        ctx = np.asarray(encode(context), dtype=np.int64)
        if ctx.size == 0:
            if empty_context_id is None:
                raise DataError(f"{where}: the prompt is empty and no start token id was given")
            ctx = np.array([empty_context_id], dtype=np.int64)
        if ctx.size + longest <= max_tokens:
            return EncodedItem(it.task, it.item, ctx, options, n_demos, 0)
    keep = max_tokens - longest
    return EncodedItem(it.task, it.item, ctx[ctx.size - keep :], options, 0, int(ctx.size - keep))


def encode_items(
    items: Sequence[PromptItem],
    encode: Callable[[str], Sequence[int]],
    max_tokens: int,
    empty_context_id: int | None = None,
) -> tuple[list[PromptItem], list[EncodedItem], list[tuple[PromptItem, str]]]:
    """Encode every item; items with an option longer than the model's context are left out.

    Returns (kept items, their encodings, (item, message naming task and example) per left-out item).
    """
    kept, encoded, skipped = [], [], []
    for it in items:
        try:
            enc = encode_item(it, encode, max_tokens, empty_context_id)
        except PromptTooLong as err:
            skipped.append((it, str(err)))
            continue
        kept.append(it)
        encoded.append(enc)
    return kept, encoded, skipped
