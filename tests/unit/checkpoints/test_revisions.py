"""Revision names from hand-made branch lists (shaped like list_repo_refs of OLMo repos); no network."""

from types import SimpleNamespace

import huggingface_hub
import pytest
import yaml

from lmtraj.checkpoints import revisions

# Names as OLMo-1B-hf lists them: token counts rounded their own way, no step0, an odd final step.
OLMO_1B_HF = [
    "main",
    "step738020-tokens3094B",
    "step1000-tokens4B",
    "step20000-tokens83B",
    "step10000-tokens41B",
    "step2000-tokens8B",
    "step117850-tokens494B",
    "step40000-tokens167B",
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("step20000-tokens84B", (20000, 84)),
        ("stage1-step150-tokens1B", (150, 1)),
        ("step0-tokens0B", (0, 0)),
        ("step2627139-tokens15T", (2627139, 15000)),
        ("step143000", (143000, None)),
        ("main", None),
        ("nitro", None),
        ("step20000-tokens", None),
    ],
)
def test_parse_revision(name, expected):
    assert revisions.parse_revision(name) == expected


def test_map_is_sorted_by_step_and_skips_other_branches():
    mapping = revisions.revisions_map(OLMO_1B_HF)
    assert list(mapping) == [1000, 2000, 10000, 20000, 40000, 117850, 738020]
    assert mapping[20000] == "step20000-tokens83B"  # the name as listed, not a recomputed one
    assert "main" not in mapping.values()


def test_thinning_keeps_the_grid_and_both_ends():
    mapping = revisions.revisions_map(OLMO_1B_HF, every=20000)
    assert list(mapping) == [1000, 20000, 40000, 738020]
    assert revisions.revisions_map(["step0", "step5", "step10", "step12"], every=5) == {
        0: "step0",
        5: "step5",
        10: "step10",
        12: "step12",
    }


def test_thinning_rejects_a_bad_grid():
    with pytest.raises(ValueError, match="every"):
        revisions.revisions_map(OLMO_1B_HF, every=0)


def test_two_branches_of_one_step_are_an_error():
    names = ["stage1-step1000-tokens5B", "stage2-ingredient1-step1000-tokens5B"]
    with pytest.raises(ValueError, match="both name step 1000"):
        revisions.revisions_map(names)


def test_tokens_per_step_from_the_last_named_count():
    mapping = revisions.revisions_map(OLMO_1B_HF)
    assert revisions.tokens_per_step(mapping) == round(3094e9 / 738020)
    assert revisions.tokens_per_step({143000: "step143000"}) is None


def test_yaml_pastes_into_a_model_entry():
    mapping = revisions.revisions_map(OLMO_1B_HF)
    parsed = yaml.safe_load(revisions.to_yaml(mapping, per_line=3))
    assert parsed["steps"] == list(mapping)
    assert parsed["revisions"] == mapping
    assert yaml.safe_load(revisions.to_yaml({})) == {"steps": [], "revisions": {}}


def refs(names):
    return SimpleNamespace(branches=[SimpleNamespace(name=n) for n in names])


def test_main_prints_steps_and_revisions(monkeypatch, capsys):
    monkeypatch.setattr(huggingface_hub, "list_repo_refs", lambda repo: refs(OLMO_1B_HF))
    assert revisions.main(["allenai/OLMo-1B-hf", "--every", "20000"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# allenai/OLMo-1B-hf: 8 branches, 7 checkpoints, 4 on the grid of 20000")
    assert yaml.safe_load(out)["revisions"] == {
        1000: "step1000-tokens4B",
        20000: "step20000-tokens83B",
        40000: "step40000-tokens167B",
        738020: "step738020-tokens3094B",
    }


def test_main_selects_a_stage_by_prefix(monkeypatch, capsys):
    names = ["main", "stage1-step1000-tokens5B", "stage2-ingredient1-step1000-tokens5B"]
    monkeypatch.setattr(huggingface_hub, "list_repo_refs", lambda repo: refs(names))
    assert revisions.main(["allenai/OLMo-2-1124-7B"]) == 1
    assert "--prefix" in capsys.readouterr().err
    assert revisions.main(["allenai/OLMo-2-1124-7B", "--prefix", "stage1-"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["revisions"] == {
        1000: "stage1-step1000-tokens5B"
    }
