"""The split into training text and three disjoint held-out sets (lmtraj.corpus.split)."""

from __future__ import annotations

import pytest

from lmtraj.corpus.sources import Document
from lmtraj.corpus.split import chunk_documents, chunk_text, heldout_counts, split_documents
from lmtraj.errors import ConfigError

HELDOUT = ("valid", "ppl", "task")


def corpus(n_docs: int = 6, paragraphs: int = 9) -> list[Document]:
    """Documents of 44-character paragraphs: at chunk_chars=100, 9 paragraphs give 5 chunks."""
    return [
        Document(
            "s", f"D{i}", "\n\n".join(f"Paragraph {i}.{j} " + "x" * 30 for j in range(paragraphs))
        )
        for i in range(n_docs)
    ]


COUNTS = {"valid": 5, "ppl": 4, "task": 3}


@pytest.mark.parametrize("need_train", [True, False])
def test_held_out_sets_share_no_chunk_and_no_text(need_train):
    split = split_documents(corpus(), COUNTS, chunk_chars=100, seed=3, need_train=need_train)
    assert len(split.chunks) == 6 * 5
    for name, n in COUNTS.items():
        assert len(split.ids[name]) == n
    names = [*HELDOUT, "train"]
    for a in names:
        for b in names[names.index(a) + 1 :]:
            assert not set(split.ids[a]) & set(split.ids[b]), (a, b)
            assert not {d.text for d in split.part(a)} & {d.text for d in split.part(b)}, (a, b)
    used = sorted(i for name in names for i in split.ids[name])
    if need_train:  # every chunk is used exactly once
        assert used == list(range(len(split.chunks)))
    else:  # hub suites: nothing is trained, the rest of the corpus is unused
        assert split.ids["train"] == [] and len(used) == sum(COUNTS.values())


def test_split_is_fixed_by_the_seed_and_keeps_corpus_order():
    docs = corpus()
    split = split_documents(docs, COUNTS, chunk_chars=100, seed=3)
    assert split == split_documents(docs, COUNTS, chunk_chars=100, seed=3)
    other = split_documents(docs, COUNTS, chunk_chars=100, seed=4)
    for name in HELDOUT:
        assert split.ids[name] == sorted(split.ids[name])  # corpus order within each set
    assert [other.ids[n] for n in HELDOUT] != [split.ids[n] for n in HELDOUT]
    # The draw spreads over the corpus, not the first chunks.
    assert max(i for n in HELDOUT for i in split.ids[n]) > sum(COUNTS.values())


def test_resizing_a_later_set_keeps_the_earlier_ones():
    docs = corpus()
    base = split_documents(docs, COUNTS, chunk_chars=100, seed=3)
    more_ppl = split_documents(docs, {**COUNTS, "ppl": 6}, chunk_chars=100, seed=3)
    assert more_ppl.ids["valid"] == base.ids["valid"]
    assert set(base.ids["ppl"]) < set(more_ppl.ids["ppl"])
    no_tasks = split_documents(docs, {**COUNTS, "task": 0}, chunk_chars=100, seed=3)
    assert no_tasks.ids["valid"] == base.ids["valid"] and no_tasks.ids["ppl"] == base.ids["ppl"]
    assert no_tasks.ids["task"] == [] and len(no_tasks.ids["train"]) == len(base.ids["train"]) + 3


def test_without_training_the_sets_are_consecutive_runs_in_corpus_order():
    docs = corpus(n_docs=12)
    split = split_documents(docs, {"valid": 5, "ppl": 3, "task": 2}, 0, seed=3, need_train=False)
    titles = {name: [d.title for d in split.part(name)] for name in HELDOUT}
    assert titles == {
        "valid": ["D0", "D1", "D2", "D3", "D4"],
        "ppl": ["D5", "D6", "D7"],
        "task": ["D8", "D9"],
    }
    # The seed plays no part: a config names its texts by their order.
    assert split == split_documents(
        docs, {"valid": 5, "ppl": 3, "task": 2}, 0, 99, need_train=False
    )


def test_chunk_chars_zero_keeps_documents_whole():
    docs = corpus(n_docs=3)
    assert chunk_documents(docs, 0) == docs
    assert chunk_text(docs[0].text, 0) == [docs[0].text]
    assert len(chunk_documents(docs, 100)) == 15
    split = split_documents(docs, {"valid": 1, "ppl": 1, "task": 0}, 0, seed=1)
    assert sorted(d.title for d in split.chunks) == ["D0", "D1", "D2"]
    with pytest.raises(ConfigError, match=r"corpus\.chunk_chars must be >= 0.*got -1"):
        chunk_documents(docs, -1)


def test_repeated_text_is_kept_once_so_it_cannot_sit_in_two_sets():
    same = "The same paragraph, twice in the corpus."
    docs = [Document("s", f"D{i}", same if i in (0, 4) else f"text {i}") for i in range(8)]
    split = split_documents(docs, {"valid": 3, "ppl": 2, "task": 1}, 0, seed=0)
    assert split.duplicates == 1 and len(split.chunks) == 7
    assert [d.title for d in split.chunks if d.text == same] == ["D0"]


@pytest.mark.parametrize(
    ("need_train", "fits"),
    [(True, 12), (False, 13)],  # training needs one chunk beyond the held-out sets
)
def test_too_few_chunks_is_a_config_error_naming_the_keys(need_train, fits):
    docs = [Document("s", f"D{i}", f"text {i}") for i in range(13)]
    counts = {"valid": fits - 7, "ppl": 4, "task": 3}
    split = split_documents(docs, counts, 0, seed=0, need_train=need_train)
    assert sum(len(split.ids[n]) for n in HELDOUT) == fits
    with pytest.raises(ConfigError) as err:
        split_documents(docs, {**counts, "task": 4}, 0, seed=0, need_train=need_train)
    message = str(err.value)
    assert "only 13 distinct whole documents" in message
    for key, n in (("valid_documents", fits - 7), ("ppl_documents", 4), ("task_documents", 4)):
        assert f"corpus.{key}={n}" in message
    assert f"at most {fits} in total" in message
    assert ("plus training text" in message) is need_train


def test_heldout_counts_reads_and_checks_the_corpus_keys():
    cfg = {"valid_documents": 48, "ppl_documents": 16, "task_documents": 24}
    assert heldout_counts(cfg, need_tasks=True) == {"valid": 48, "ppl": 16, "task": 24}
    assert heldout_counts({**cfg, "task_documents": 0}, need_tasks=False)["task"] == 0
    with pytest.raises(ConfigError, match=r"corpus\.task_documents is 0.*bigbench\.corpus_tasks"):
        heldout_counts({**cfg, "task_documents": 0}, need_tasks=True)
    with pytest.raises(ConfigError, match=r"corpus\.ppl_documents must be >= 1, got 0"):
        heldout_counts({**cfg, "ppl_documents": 0}, need_tasks=False)
    with pytest.raises(ConfigError, match=r"corpus\.valid_documents must be >= 1, got 0"):
        heldout_counts({**cfg, "valid_documents": 0}, need_tasks=False)
    with pytest.raises(ConfigError, match=r"unknown held-out sets \['test'\]"):
        split_documents(corpus(), {"test": 1}, 100, seed=0)
