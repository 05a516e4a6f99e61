from collections import Counter
from pathlib import Path

import pytest

from lmtraj.bigbench.corpus_tasks import build_corpus_tasks, continuation_task, next_word_task
from lmtraj.bigbench.prompts import build_items
from lmtraj.errors import ConfigError, DataError

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [p.read_text() for p in sorted(CORPUS.glob("*.txt"))]


def test_continuation_task_holds_the_true_continuation(texts):
    task = continuation_task(
        texts, n_items=40, n_choices=4, prefix_words=12, continuation_words=3, seed=1
    )
    flat = " ".join(" ".join(t.split()) for t in texts)
    assert len(task["examples"]) == 40
    for ex in task["examples"]:
        scores = ex["target_scores"]
        assert len(scores) == 4 and sum(scores.values()) == 1
        true = next(c for c, s in scores.items() if s == 1)
        assert f"{ex['input']} {true}" in flat
        assert len(ex["input"].split()) == 12
        assert all(len(c.split()) == 3 for c in scores)
        lengths = [len(c) for c in scores]
        assert max(lengths) <= 2 * min(lengths)  # distractors of similar length
    # The correct option is not always in the same place.
    assert len({list(ex["target_scores"].values()).index(1) for ex in task["examples"]}) > 1


def test_next_word_distractors_have_similar_frequency(texts):
    task = next_word_task(texts, n_items=30, n_choices=4, prefix_words=8, seed=2)
    ranks = {w: r for r, (w, _) in enumerate(Counter(" ".join(texts).split()).most_common())}
    flat = " ".join(" ".join(t.split()) for t in texts)
    for ex in task["examples"]:
        true = next(c for c, s in ex["target_scores"].items() if s == 1)
        assert f"{ex['input']} {true}" in flat
        assert all(abs(ranks[c] - ranks[true]) <= 8 for c in ex["target_scores"])
        assert all(c.lower() != true.lower() for c in ex["target_scores"] if c != true)


def test_seeded_and_in_bigbench_format(texts):
    a = build_corpus_tasks(texts, ["corpus_continuation", "corpus_next_word"], n_items=10, seed=5)
    b = build_corpus_tasks(texts, ["corpus_continuation", "corpus_next_word"], n_items=10, seed=5)
    c = build_corpus_tasks(texts, ["corpus_continuation"], n_items=10, seed=6)
    assert a == b and a["corpus_continuation"] != c["corpus_continuation"]
    items = build_items(a["corpus_next_word"], "corpus_next_word", shots=2)
    demo = a["corpus_next_word"]["examples"][items[0].demo_examples[0]]
    true = next(k for k, v in demo["target_scores"].items() if v == 1)
    # Input, then " " and the answer; demonstrations separated by a blank line; no listed choices.
    assert items[0].context().startswith(f"{demo['input']} {true}\n\n")
    assert items[0].context().endswith(" ") and "choice:" not in items[0].context()


def test_errors():
    with pytest.raises(DataError, match="corpus_continuation.*usable positions"):
        continuation_task(["only a few words here"], n_items=5)
    with pytest.raises(ConfigError, match="n_choices"):
        next_word_task(["a b c"], n_items=5, n_choices=1)
    with pytest.raises(ConfigError, match="unknown"):
        build_corpus_tasks(["a b"], ["cloze"], n_items=5)
