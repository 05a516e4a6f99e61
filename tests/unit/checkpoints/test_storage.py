import pytest

from lmtraj.checkpoints.storage import load_checkpoint, save_checkpoint, step_files
from lmtraj.errors import ConfigError, DataError


def spec(path, **kw):
    return {
        "model": "m",
        "step": 4,
        "source": "local",
        "path": str(path),
        "tokens_per_step": 1,
    } | kw


def test_round_trip_and_meta(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path / "step4", {"step": 4})
    assert (tmp_path / "step4" / "meta.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left behind
    loaded = load_checkpoint(spec(tmp_path / "step4"))
    assert all(
        (a == b).all()
        for a, b in zip(tiny_model.state_dict().values(), loaded.state_dict().values())
    )


def test_missing_and_corrupt_checkpoints_are_named(tmp_path, tiny_model):
    with pytest.raises(DataError, match=r"checkpoint directory missing for model 'm' step 4"):
        load_checkpoint(spec(tmp_path / "nowhere"))
    save_checkpoint(tiny_model, tmp_path / "step4", {"step": 4})
    weights = tmp_path / "step4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(DataError, match=r"cannot load model 'm' step 4"):
        load_checkpoint(spec(tmp_path / "step4"))
    with pytest.raises(ConfigError, match="source"):
        load_checkpoint(spec(tmp_path, source="ftp"))


def test_step_files_maps_steps_across_blocks(tmp_path):
    for block, steps in {"steps0-2": [0, 2], "steps4-4": [4]}.items():
        (tmp_path / block).mkdir()
        for s in steps:
            (tmp_path / block / f"step{s}.npy").write_bytes(b"")
    found = step_files([tmp_path / "steps4-4", tmp_path / "steps0-2"], "npy")
    assert list(found) == [0, 2, 4] and found[4].parent.name == "steps4-4"
