import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import ROOT

from lmtraj.bigbench.prompts import PromptItem, build_items, encode_item, split_whitespace
from lmtraj.bigbench.sdist import load_task
from lmtraj.bigbench.sdist_tasks import BUNDLED_DIR
from lmtraj.errors import DataError


@dataclass(frozen=True)
class Request:
    """One (prompt, option) pair: the unit other evaluation harnesses (lm-eval) score."""

    task: str
    item: int
    option: int
    context: str
    continuation: str


def requests(items: Sequence[PromptItem]) -> list[Request]:
    """The flat (prompt, option) view of items, with lm-eval's whitespace split applied."""
    out = []
    for it in items:
        context, conts = split_whitespace(it.context(), it.choices)
        out += [Request(it.task, it.item, j, context, c) for j, c in enumerate(conts)]
    return out


BUNDLED = ROOT / BUNDLED_DIR


def task(name: str) -> dict:
    return load_task(BUNDLED / name)


def test_two_shot_prompt_nonsense_words_grammar_by_hand():
    # Seed 42 (BIG-bench's): the first query is example 13, its demonstrations examples 30 and 39.
    # Default prefixes "\nQ: " / "\nA: ", separator "\n", append_choices_to_input false.
    it = build_items(task("nonsense_words_grammar"), "nonsense_words_grammar", shots=2)[0]
    assert (it.example, it.demo_examples) == (13, (30, 39))
    expected = (
        '\nQ: What part of speech is the word "bipaliriate" in the following sentence? '
        "When the children bipaliriate, they will learn without realising it."
        "\nA: Verb"
        "\n"
        "\nQ: What is the grammatical object of the following sentence? Every jomollhop needs a vandartache."
        "\nA: vandartache"
        "\n"
        "\nQ: Which word in the following sentence is a noun? "
        "Most hapatricant eriontites can be pramerified hupturately."
        "\nA: "
    )
    assert it.context() == expected
    assert it.choices == (
        "Most",
        "hapatricant",
        "eriontites",
        "can",
        "be",
        "pramerified",
        "hupturatelycan",
    )
    assert it.correct == 2


def test_two_shot_prompt_human_organs_senses_with_appended_choices_by_hand():
    # append_choices_to_input defaults to true: the sorted choices permuted by RandomState(42),
    # which maps sorted positions [0, 1, 2, 3] to [1, 3, 0, 2], each after "\n  choice: ".
    it = build_items(task("human_organs_senses"), "human_organs_senses", shots=2)[0]
    assert (it.example, it.demo_examples) == (25, (4, 23))
    expected = (
        "\nQ: Which organ is for breathing?"
        "\n  choice: eye\n  choice: lungs\n  choice: ear\n  choice: leg"
        "\nA: lungs"
        "\n"
        "\nQ: How many hands do most humans have?"
        "\n  choice: 1\n  choice: all of them\n  choice: 0\n  choice: 2"
        "\nA: 2"
        "\n"
        "\nQ: How many ears do most humans have?"
        "\n  choice: 2\n  choice: all of them\n  choice: 1\n  choice: 6"
        "\nA: "
    )
    assert it.context() == expected
    assert it.choices == ("6", "1", "2", "all of them") and it.correct == 2


def test_task_prefix_and_custom_input_prefix():
    it = build_items(task("entailed_polarity"), "entailed_polarity", shots=0)[0]
    # Zero-shot keeps file order; the task prefix precedes the example input prefix "\n".
    assert it.context() == (
        "Given a fact, answer the following question with a yes or a no."
        "\nFact: The report was admitted to be incorrect. Q: Was the report incorrect?\nA: "
    )
    assert it.demos == () and it.choices == ("no", "yes") and it.correct == 1


def test_demonstrations_never_include_the_scored_example_and_are_seeded():
    t = task("what_is_the_tao")
    items = build_items(t, "what_is_the_tao", shots=3, seed=7)
    assert len(items) == 36 and sorted(it.example for it in items) == list(range(36))
    assert all(
        it.example not in it.demo_examples and len(set(it.demo_examples)) == 3 for it in items
    )
    again = build_items(t, "what_is_the_tao", shots=3, seed=7)
    assert [it.context() for it in again] == [it.context() for it in items]
    other = build_items(t, "what_is_the_tao", shots=3, seed=8)
    assert [it.demo_examples for it in other] != [it.demo_examples for it in items]


def test_container_task_cap_is_split_over_subtasks_with_their_own_prefixes():
    items = build_items(task("strange_stories"), "strange_stories", shots=2, cap=10)
    assert [it.subtask for it in items] == ["boolean"] * 5 + ["multiple_choice"] * 5
    assert [it.item for it in items] == list(range(10))
    assert all(it.query.startswith("Context: ") and it.query.endswith("\nA: ") for it in items)
    # Both keep BIG-bench's default of appending the choices.
    assert items[0].query.endswith("\n  choice: yes\n  choice: no\nA: ") or items[0].query.endswith(
        "\n  choice: no\n  choice: yes\nA: "
    )
    assert all(f"\n  choice: {c}" in items[-1].query for c in items[-1].choices)


def test_requests_move_trailing_space_into_the_continuation():
    items = build_items(task("entailed_polarity"), "entailed_polarity", shots=1)[:2]
    reqs = requests(items)
    assert [(r.item, r.option, r.continuation) for r in reqs] == [
        (0, 0, " no"),
        (0, 1, " yes"),
        (1, 0, " no"),
        (1, 1, " yes"),
    ]
    assert reqs[0].context.endswith("\nA:")
    assert split_whitespace("Q: x\nA: \n", ["a"]) == ("Q: x\nA:", [" \na"])


def _chars(text: str) -> list[int]:
    return [ord(c) for c in text]  # one token per character: lengths are easy to check by hand


def test_long_prompts_drop_demonstrations_then_truncate_from_the_left():
    it = build_items(task("entailed_polarity"), "entailed_polarity", shots=2)[0]
    full = len(split_whitespace(it.context(), it.choices)[0])
    one = len(split_whitespace(it.context(1), it.choices)[0])
    bare = len(split_whitespace(it.context(0), it.choices)[0])
    longest = len(" yes")
    enc = encode_item(it, _chars, max_tokens=full + longest)
    assert (enc.n_demos, enc.truncated_tokens, enc.context_ids.size) == (2, 0, full)
    enc = encode_item(it, _chars, max_tokens=full + longest - 1)
    assert (enc.n_demos, enc.truncated_tokens, enc.context_ids.size) == (1, 0, one)
    enc = encode_item(it, _chars, max_tokens=bare + longest - 5)
    assert (enc.n_demos, enc.truncated_tokens) == (0, 5)
    assert "".join(map(chr, enc.context_ids)) == split_whitespace(it.context(0), it.choices)[0][5:]
    assert [o.tolist() for o in enc.option_ids] == [_chars(" no"), _chars(" yes")]
    with pytest.raises(DataError, match="entailed_polarity.*example 27.*no room"):
        encode_item(it, _chars, max_tokens=4)


def _tiny_task(examples):
    return {"name": "tiny", "examples": examples}


def test_errors_name_the_task_and_example():
    good = [{"input": f"q{i}", "target_scores": {"a": 1, "b": 0}} for i in range(3)]
    bad = copy.deepcopy(good) + [{"input": "q9", "target_scores": {"a": 0, "b": 0}}]
    with pytest.raises(DataError, match="task 'tiny' example 3 has no correct target"):
        build_items(_tiny_task(bad), "tiny")
    bad = copy.deepcopy(good) + [{"input": "q9", "target_scores": {"a": "yes"}}]
    with pytest.raises(DataError, match="example 3: score of choice 'a'"):
        build_items(_tiny_task(bad), "tiny")
    with pytest.raises(DataError, match="example 0: an example must be"):
        build_items(_tiny_task([{"target_scores": {"a": 1}}] + good), "tiny")
    with pytest.raises(DataError, match="task 'tiny' has no multiple-choice example"):
        build_items(_tiny_task([{"input": "q", "target": "a"}]), "tiny")
    with pytest.raises(DataError, match="3 distinct multiple-choice example.*need at least 4"):
        build_items(_tiny_task(good + good), "tiny", shots=3)  # duplicates are dropped first
    with pytest.raises(DataError, match="option 1 .*encodes to no token"):
        it = build_items(_tiny_task(good), "tiny", shots=0)[0]
        encode_item(it, lambda s: [] if s == " b" else _chars(s), 100)


def test_seed_reproduces_numpy_legacy_stream():
    # The query order is RandomState(seed).permutation(n): pinned so a numpy change cannot slip by.
    items = build_items(task("what_is_the_tao"), "what_is_the_tao", shots=2)
    assert [it.example for it in items[:5]] == np.random.RandomState(42).permutation(36)[
        :5
    ].tolist()


def test_encode_items_leaves_out_items_whose_options_do_not_fit():
    from lmtraj.bigbench.prompts import encode_items

    items = build_items(task("what_is_the_tao"), "what_is_the_tao", shots=0)[:3]
    kept, encoded, skipped = encode_items(items, _chars, max_tokens=len(" Passage A"))
    assert kept == [] and encoded == [] and len(skipped) == 3
    assert skipped[0][0] is items[0] and "task 'what_is_the_tao' example" in skipped[0][1]
    kept, encoded, skipped = encode_items(items, _chars, max_tokens=2000)
    assert kept == items and [e.n_demos for e in encoded] == [0, 0, 0] and skipped == []
