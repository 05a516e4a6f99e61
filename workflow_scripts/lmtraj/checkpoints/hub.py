"""Hub checkpoints: fetch one revision's files into a Hugging Face cache (`lmtraj.checkpoints.integrity`
describes them in a manifest and finds revisions that are missing or whose weights are byte-identical
to another revision's).

Pythia's branches are not all what their names say (EleutherAI/pythia issues #94, #107, #141, #202:
missing or partial revisions; #205: 86 of 154 pythia-2.8b branches serve final-era weights; #206:
12b steps 50000 and 58000 share the final model's first shard). So every checkpoint gets a manifest
(resolved commit, file names, sizes, sha256) and the integrity table compares them across revisions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from lmtraj.errors import ConfigError, DataError

CONFIG_FILES = ("config.json",)
# Small files fetched when the revision has them: the tokenizer travels with every revision (the
# cache stores identical blobs once), so each checkpoint's own tokenizer can be checked offline.
OPTIONAL_FILES = (
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
)
# One weight format per revision: safetensors where the revision has it, else PyTorch pickles
# (older Pythia branches only carry pytorch_model.bin). Sharded checkpoints come with an index.
_SAFETENSORS = re.compile(r"^model(-\d+-of-\d+)?\.safetensors$")
_PYTORCH = re.compile(r"^pytorch_model(-\d+-of-\d+)?\.bin$")
_INDEX = {
    "safetensors": "model.safetensors.index.json",
    "pytorch": "pytorch_model.bin.index.json",
}
_WEIGHT = re.compile(r"\.(safetensors|bin)$")


class CheckpointMissing(DataError):
    """The revision does not exist (on the hub or in an offline cache) or holds no weight files."""


def is_weight_file(name: str) -> bool:
    return bool(_WEIGHT.search(name))


def needed_files(repo_files: Iterable[str], where: str = "") -> list[str]:
    """The files from_pretrained needs: config, one weight format, and the small optional files.

    `where` (e.g. "EleutherAI/pythia-70m@step1000") only labels the error of a revision without weights.
    """
    names = set(repo_files)
    if not all(name in names for name in CONFIG_FILES):
        raise CheckpointMissing(f"{where or 'revision'} has no {', '.join(CONFIG_FILES)}")
    for kind, pattern in (("safetensors", _SAFETENSORS), ("pytorch", _PYTORCH)):
        weights = sorted(n for n in names if pattern.match(n))
        if weights:
            if len(weights) > 1 and _INDEX[kind] not in names:
                raise CheckpointMissing(
                    f"{where or 'revision'} has shards {weights} but no {_INDEX[kind]}"
                )
            extra = [_INDEX[kind]] if _INDEX[kind] in names else []
            optional = [n for n in OPTIONAL_FILES if n in names]
            return sorted([*CONFIG_FILES, *optional, *extra, *weights])
    raise CheckpointMissing(
        f"{where or 'revision'} has no weight file (model*.safetensors or pytorch_model*.bin); "
        f"files: {sorted(names)}"
    )


def _list_files(repo: str, revision: str, cache_dir: str | None) -> list[str]:
    """The revision's file names: from the hub when online, else from the cache's own tree listing."""
    from huggingface_hub import HfApi, constants, get_cached_repo_tree
    from huggingface_hub.errors import (
        CachedRepoTreeNotFoundError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo}@{revision}"
    if not constants.HF_HUB_OFFLINE:
        try:
            return HfApi().list_repo_files(repo, revision=revision)
        except RevisionNotFoundError as err:
            raise CheckpointMissing(f"{where}: revision not found on the hub") from err
        except RepositoryNotFoundError as err:
            raise ConfigError(
                f"{where}: repository not found on the hub (check models.*.repo)"
            ) from err
        except (OfflineModeIsEnabled, OSError):
            pass  # no network: fall back to what the cache knows
    try:
        return [f.path for f in get_cached_repo_tree(repo, revision=revision, cache_dir=cache_dir)]
    except (CachedRepoTreeNotFoundError, LocalEntryNotFoundError, OSError, ValueError):
        pass  # no tree listing cached (e.g. a cache filled by an older huggingface_hub): list the snapshot
    snapshot = _cached_snapshot(repo, revision, cache_dir)
    if snapshot is None:
        raise CheckpointMissing(
            f"{where}: not on the hub (offline) and not in the cache {cache_dir or ''}"
        )
    return sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file())


def _cached_snapshot(repo: str, revision: str, cache_dir: str | None) -> Path | None:
    """snapshots/<commit> for a branch name via refs/<revision> (the cache layout of huggingface_hub)."""
    from huggingface_hub import constants

    root = Path(cache_dir or constants.HF_HUB_CACHE) / ("models--" + repo.replace("/", "--"))
    ref = root / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snapshot = root / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def fetch(repo: str, revision: str, cache_dir: str | None = None) -> tuple[Path, list[str]]:
    """Download only the needed files of repo@revision into the cache; return (snapshot dir, file names).

    Offline (HF_HUB_OFFLINE=1) this resolves the revision in the cache and checks the files are there.
    Raises CheckpointMissing when the revision is unknown, not cached, or has no weights.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RevisionNotFoundError

    where = f"{repo}@{revision}"
    files = needed_files(_list_files(repo, revision, cache_dir), where)
    try:
        snapshot = Path(
            snapshot_download(repo, revision=revision, allow_patterns=files, cache_dir=cache_dir)
        )
    except (RevisionNotFoundError, LocalEntryNotFoundError) as err:
        raise CheckpointMissing(f"{where}: {type(err).__name__}: {err}") from err
    absent = [name for name in files if not (snapshot / name).is_file()]
    if absent:
        raise CheckpointMissing(f"{where}: files missing from the snapshot {snapshot}: {absent}")
    return snapshot, files
