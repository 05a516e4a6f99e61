import pytest

from lmtraj.checkpoints import suite
from lmtraj.errors import ConfigError

TRAINING = {"steps": 288, "checkpoint_every": 16, "batch_size": 32, "context": 128}


def test_grid_is_log_spaced_then_even_like_pythia():
    grid = suite.checkpoint_grid(288, 16)
    assert grid[:6] == [0, 1, 2, 4, 8, 16]
    assert grid[-3:] == [256, 272, 288]
    assert len(grid) == 23
    assert suite.checkpoint_grid(20, 16) == [0, 1, 2, 4, 8, 16, 20]  # the last step is always kept


def test_blocks_are_consecutive_and_named_by_their_steps():
    steps = [0, 1, 2, 4, 8, 16, 24]
    assert suite.blocks(steps, 3) == {"0-2": [0, 1, 2], "4-16": [4, 8, 16], "24-24": [24]}
    assert suite.blocks(steps, 0) == {"0-24": steps}
    assert list(suite.blocks(steps, 1)) == [f"{s}-{s}" for s in steps]


def test_specs_for_each_source(tmp_path):
    hf = {
        "source": "hf",
        "repo": "EleutherAI/pythia-70m",
        "steps": [1000, 0],
        "tokens_per_step": 2097152,
    }
    spec = suite.checkpoint_spec("pythia-70m", hf, 1000, TRAINING, tmp_path, hub_cache="/c")
    assert spec == {
        "model": "pythia-70m",
        "step": 1000,
        "source": "hf",
        "tokens_per_step": 2097152,
        "repo": "EleutherAI/pythia-70m",
        "revision": "step1000",
        "cache_dir": "/c",
    }
    olmo = hf | {"revisions": {1000: "step1000-tokens4B"}, "params_total": 7}
    spec = suite.checkpoint_spec("olmo", olmo, 1000, TRAINING, tmp_path)
    assert spec["revision"] == "step1000-tokens4B" and spec["params_total"] == 7
    local = {
        "source": "local",
        "path_template": "runs/a/ckpt-{step}",
        "steps": [5],
        "tokens_per_step": 3,
    }
    assert suite.checkpoint_spec("a", local, 5, TRAINING, tmp_path)["path"] == str(
        tmp_path / "runs/a/ckpt-5"
    )
    trained = {"source": "train", "d_model": 8, "n_layers": 1, "n_heads": 1}
    spec = suite.checkpoint_spec("t", trained, 16, TRAINING, tmp_path)
    assert spec["tokens_per_step"] == 32 * 128 and spec["path"] == "results/checkpoints/t/step16"
    assert suite.model_steps(hf, TRAINING) == [0, 1000]


@pytest.mark.parametrize(
    "models, message",
    [
        ({}, "'models' is empty"),
        ({"m": {"source": "zip"}}, "models.m.source"),
        ({"m": {"source": "train", "d_model": 8}}, "models.m .*n_layers, n_heads"),
        ({"m": {"source": "hf", "repo": "r", "tokens_per_step": 1}}, "models.m .*steps"),
        ({"m": {"source": "local", "steps": [1], "tokens_per_step": 1}}, "path_template"),
        ({"m": {"source": "hf", "repo": "r", "steps": [1, 1], "tokens_per_step": 1}}, "distinct"),
    ],
)
def test_bad_model_entries_name_the_model_and_key(models, message):
    with pytest.raises(ConfigError, match=message):
        suite.check_models(models)
