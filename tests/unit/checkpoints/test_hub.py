"""lmtraj.checkpoints.hub: file selection, manifests, the integrity table and policies, on hand-made manifests and
on a real on-disk Hugging Face cache (tests/hubcache.py) read offline through the real loaders."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from hubcache import REPO_ID, build_hub_cache, git_blob_sha1

from lmtraj.checkpoints import hub, integrity
from lmtraj.errors import ConfigError, DataError


# ---- needed_files ---------------------------------------------------------------------------------
def test_needed_files_prefers_safetensors_and_drops_the_rest():
    files = [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "pytorch_model.bin",
        "tokenizer.json",
        ".gitattributes",
        "README.md",
    ]
    assert hub.needed_files(files) == [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
    ]


def test_needed_files_takes_pytorch_shards_with_their_index():
    # The shape of pythia-12b's step branches: three .bin shards and an index, no safetensors.
    shards = [f"pytorch_model-0000{i}-of-00003.bin" for i in (1, 2, 3)]
    files = ["config.json", "pytorch_model.bin.index.json", *shards, "optimizer.pt"]
    assert hub.needed_files(files) == sorted(
        ["config.json", "pytorch_model.bin.index.json", *shards]
    )


@pytest.mark.parametrize(
    "files, message",
    [
        (["config.json", "tokenizer.json"], "no weight file"),
        (["model.safetensors"], "no config.json"),
        (
            ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"],
            "no model.safetensors.index.json",
        ),
    ],
)
def test_needed_files_rejects_incomplete_revisions(files, message):
    with pytest.raises(hub.CheckpointMissing, match=message) as err:
        hub.needed_files(files, "org/m@step3")
    assert "org/m@step3" in str(err.value)
    assert isinstance(err.value, DataError)


# ---- integrity table on hand-made manifests -------------------------------------------------------
def _manifest(model, step, weights: dict[str, str] | None):
    """weights: file name -> content tag (equal tags = equal bytes); None = missing revision."""
    if weights is None:
        return integrity.missing_manifest(
            model=model, step=step, repo="org/" + model, revision=f"step{step}", reason="gone"
        )
    files = [{"name": "config.json", "size": 10, "sha256": "c" * 64, "weight": False}]
    files += [
        {"name": n, "size": 100, "sha256": hashlib.sha256(tag.encode()).hexdigest(), "weight": True}
        for n, tag in weights.items()
    ]
    return {
        "model": model,
        "step": step,
        "repo": "org/" + model,
        "revision": f"step{step}",
        "status": "ok",
        "reason": "",
        "commit": f"{step:040d}",
        "files": files,
        "weights_sha256": integrity.weights_digest(files),
    }


def test_integrity_flags_earlier_copies_of_later_weights_and_missing_ones():
    # Pythia #205 in miniature: steps 1 and 2 serve step 8's weights; step 4 is missing.
    manifests = [
        _manifest("m", 0, {"model.safetensors": "w0"}),
        _manifest("m", 1, {"model.safetensors": "w8"}),
        _manifest("m", 2, {"model.safetensors": "w8"}),
        _manifest("m", 4, None),
        _manifest("m", 8, {"model.safetensors": "w8"}),
    ]
    table = integrity.integrity_table(manifests)
    assert table["step"].tolist() == [0, 1, 2, 4, 8]
    assert table["status"].tolist() == [
        "ok",
        "duplicate_of:step8",
        "duplicate_of:step8",
        "missing",
        "ok",
    ]
    assert table["n_weight_files"].tolist() == [1, 1, 1, 0, 1]
    assert table["weight_bytes"].tolist() == [100, 100, 100, 0, 100]
    assert integrity.usable_steps(table, "m", "skip") == [0, 8]
    with pytest.raises(
        DataError, match=r"model 'm': 3 checkpoint\(s\).*step 1 \(step1\): duplicate_of:step8"
    ):
        integrity.usable_steps(table, "m", "stop")


def test_integrity_flags_a_shared_shard_but_not_the_revision_it_came_from():
    # Pythia #206 in miniature: step 5's first shard is the final model's first shard.
    manifests = [
        _manifest("m", 5, {"model-1.bin": "final-a", "model-2.bin": "mid-b"}),
        _manifest("m", 9, {"model-1.bin": "final-a", "model-2.bin": "final-b"}),
    ]
    table = integrity.integrity_table(manifests)
    assert table["status"].tolist() == ["shares_shard_with:step9", "ok"]


def test_integrity_names_model_and_revision_across_models_and_keeps_config_order():
    manifests = [
        _manifest("big", 3, {"model.safetensors": "x"}),
        _manifest("small", 3, {"model.safetensors": "x"}),
        _manifest("small", 1, {"model.safetensors": "y"}),
    ]
    table = integrity.integrity_table(manifests)
    assert list(zip(table["model"], table["step"], table["status"], strict=True)) == [
        ("big", 3, "ok"),
        ("small", 1, "ok"),
        ("small", 3, "duplicate_of:big@step3"),
    ]


def test_integrity_rejects_two_manifests_for_one_checkpoint():
    with pytest.raises(DataError, match="two manifests for model 'm' step 1"):
        integrity.integrity_table(
            [_manifest("m", 1, {"a.bin": "x"}), _manifest("m", 1, {"a.bin": "y"})]
        )


def test_policies_are_validated():
    table = integrity.integrity_table([_manifest("m", 1, {"a.bin": "x"})])
    with pytest.raises(ConfigError, match="hub.on_defect"):
        integrity.usable_steps(table, "m", "ignore")
    with pytest.raises(ConfigError, match="hub.on_missing"):
        integrity.fetch_manifest(
            model="m", step=1, repo="o/m", revision="step1", cache_dir=None, on_missing="warn"
        )


def test_weights_digest_depends_on_weight_files_only():
    a = _manifest("m", 1, {"model.safetensors": "w"})["files"]
    b = [dict(f, sha256="d" * 64) if not f["weight"] else f for f in a]  # other config bytes
    assert integrity.weights_digest(a) == integrity.weights_digest(b)
    assert integrity.weights_digest(a[:1]) is None


# ---- a real on-disk cache, read offline -----------------------------------------------------------
@pytest.fixture(scope="module")
def fake_hub(tmp_path_factory):
    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE, "tests/conftest.py keeps the tests' own hub calls offline"
    return build_hub_cache(
        tmp_path_factory.mktemp("hf") / "cache",
        steps=(0, 1, 2, 4, 8),
        duplicates={2: 8},
        no_weights=(4,),
    )


def test_cache_has_the_layout_huggingface_hub_writes(fake_hub):
    repo = fake_hub.repo_dir
    assert repo.name == "models--EleutherAI--pythia-tiny-test"
    commit = (repo / "refs" / "step1").read_text()
    assert commit == fake_hub.commits["step1"] and len(commit) == 40
    weights = repo / "snapshots" / commit / "model.safetensors"
    assert weights.is_symlink() and not os.path.isabs(os.readlink(weights))
    blob = Path(os.path.realpath(weights))
    assert blob.parent == repo / "blobs" and blob.name == fake_hub.weights_sha256["step1"]
    config = repo / "snapshots" / commit / "config.json"
    assert Path(os.path.realpath(config)).name == git_blob_sha1(config.read_bytes())
    # the duplicate branch shares the blob, as a real download of two identical LFS files would
    dup = repo / "snapshots" / fake_hub.commits["step2"] / "model.safetensors"
    assert os.path.realpath(dup) == os.path.realpath(
        repo / "snapshots" / fake_hub.commits["step8"] / "model.safetensors"
    )
    assert (repo / "trees" / f"{commit}.json").is_file()


@pytest.mark.parametrize("revision", ["step0", "step1", "step2", "step8", "main"])
def test_from_pretrained_offline_loads_each_revisions_weights(fake_hub, revision):
    from transformers import AutoModelForCausalLM, GPTNeoXForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        fake_hub.repo_id, revision=revision, cache_dir=fake_hub.cache_dir
    )
    assert isinstance(model, GPTNeoXForCausalLM)
    assert model.get_output_embeddings().weight[0, :4].tolist() == fake_hub.probe[revision]


def test_revisions_really_differ_except_the_planted_duplicate(fake_hub):
    probe = fake_hub.probe
    assert len({tuple(probe[f"step{s}"]) for s in (0, 1, 8)}) == 3
    assert probe["step2"] == probe["step8"] == probe["main"]


def test_tokenizer_loads_offline_from_a_revision(fake_hub):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(
        fake_hub.repo_id, revision="step1", cache_dir=fake_hub.cache_dir
    )
    assert len(tok) == fake_hub.vocab_size
    assert tok.eos_token == "<|endoftext|>"
    assert tok.decode(tok("the question").input_ids) == "the question"


def test_snapshot_download_offline_and_manifest_flag_the_duplicate(fake_hub):
    manifests = [
        integrity.fetch_manifest(
            model="pythia-tiny",
            step=s,
            repo=REPO_ID,
            revision=f"step{s}",
            cache_dir=str(fake_hub.cache_dir),
            on_missing="skip",
        )
        for s in (0, 1, 2, 4, 8, 16)
    ]
    by_step = {m["step"]: m for m in manifests}
    ok = by_step[1]
    assert ok["status"] == "ok" and ok["commit"] == fake_hub.commits["step1"]
    assert [f["name"] for f in ok["files"]] == [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    weights = {f["name"]: f for f in ok["files"]}["model.safetensors"]
    assert weights["sha256"] == fake_hub.weights_sha256["step1"] and weights["size"] == 153472
    assert (
        by_step[2]["weights_sha256"] == by_step[8]["weights_sha256"] != by_step[1]["weights_sha256"]
    )
    assert by_step[4]["status"] == "missing" and "no weight file" in by_step[4]["reason"]
    assert by_step[16]["status"] == "missing" and "not in the cache" in by_step[16]["reason"]
    table = integrity.integrity_table(manifests)
    assert dict(zip(table["step"], table["status"], strict=True)) == {
        0: "ok",
        1: "ok",
        2: "duplicate_of:step8",
        4: "missing",
        8: "ok",
        16: "missing",
    }


def test_missing_revision_stops_under_policy_stop(fake_hub):
    with pytest.raises(
        hub.CheckpointMissing, match=r"model 'pythia-tiny' step 16: .*step16.*hub.on_missing: skip"
    ):
        integrity.fetch_manifest(
            model="pythia-tiny",
            step=16,
            repo=REPO_ID,
            revision="step16",
            cache_dir=str(fake_hub.cache_dir),
            on_missing="stop",
        )


def test_corrupt_weight_blob_is_detected(fake_hub, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(fake_hub.cache_dir, cache, symlinks=True)
    blob = cache / fake_hub.repo_dir.name / "blobs" / fake_hub.weights_sha256["step1"]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte, as a truncated or damaged download
    blob.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"model 'm' step 1 .*model.safetensors is corrupt"):
        integrity.fetch_manifest(
            model="m",
            step=1,
            repo=REPO_ID,
            revision="step1",
            cache_dir=str(cache),
            on_missing="skip",
        )


def test_usable_specs_leave_out_flagged_hub_checkpoints_only(tmp_path):
    from lmtraj.io import write_tsv

    # step 1 holds step 2's weights; a trained model's step 1 is not the hub's business
    table = integrity.integrity_table(
        [_manifest("m", 1, {"a.bin": "x"}), _manifest("m", 2, {"a.bin": "x"})]
    )
    write_tsv(tmp_path / "integrity.tsv", table)
    specs = [
        {"model": "m", "step": 1, "source": "hf"},
        {"model": "m", "step": 2, "source": "hf"},
        {"model": "t", "step": 1, "source": "train"},
    ]
    keep, skip = integrity.usable_specs(specs, integrity.read_integrity(tmp_path / "integrity.tsv"))
    assert [(s["model"], s["step"]) for s in keep] == [("m", 2), ("t", 1)]
    assert [(s["model"], s["step"]) for s in skip] == [("m", 1)]
