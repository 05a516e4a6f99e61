"""Hub checkpoints: fetch one revision's files into a Hugging Face cache, describe them in a manifest,
and find revisions that are missing or whose weights are byte-identical to another revision's.

Pythia's branches are not all what their names say (EleutherAI/pythia issues #94, #107, #141, #202:
missing or partial revisions; #205: 86 of 154 pythia-2.8b branches serve final-era weights; #206:
12b steps 50000 and 58000 share the final model's first shard). So every checkpoint gets a manifest
(resolved commit, file names, sizes, sha256) and the integrity table compares them across revisions.

A manifest is a plain dict (written as JSON, one per checkpoint):
  {"model", "step", "repo", "revision", "status": "ok" | "missing", "reason", "commit",
   "files": [{"name", "size", "sha256", "weight"}], "weights_sha256"}
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .errors import ConfigError, DataError

POLICIES = ("skip", "stop")
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


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _blob_sha256(path: Path) -> str | None:
    """The cache names an LFS blob after its sha256: the expected hash of a weight file, if known."""
    target = Path(os.path.realpath(path)).name
    return target if re.fullmatch(r"[0-9a-f]{64}", target) else None


def build_manifest(
    snapshot: str | os.PathLike,
    files: list[str],
    *,
    model: str,
    step: int,
    repo: str,
    revision: str,
) -> dict:
    """Manifest of a fetched revision; a weight file whose bytes do not match its blob name is corrupt."""
    snapshot = Path(snapshot)
    entries = []
    for name in sorted(files):
        path = snapshot / name
        digest = sha256_file(path)
        weight = is_weight_file(name)
        expected = _blob_sha256(path) if weight else None
        if expected is not None and expected != digest:
            raise DataError(
                f"model {model!r} step {step} ({repo}@{revision}): {name} is corrupt in the cache "
                f"(sha256 {digest[:12]}..., expected {expected[:12]}...); delete {os.path.realpath(path)}"
            )
        entries.append(
            {
                "name": name,
                "size": path.stat().st_size,
                "sha256": digest,
                "weight": weight,
            }
        )
    return {
        "model": model,
        "step": int(step),
        "repo": repo,
        "revision": revision,
        "status": "ok",
        "reason": "",
        "commit": snapshot.name,
        "files": entries,
        "weights_sha256": weights_digest(entries),
    }


def missing_manifest(*, model: str, step: int, repo: str, revision: str, reason: str) -> dict:
    return {
        "model": model,
        "step": int(step),
        "repo": repo,
        "revision": revision,
        "status": "missing",
        "reason": reason,
        "commit": None,
        "files": [],
        "weights_sha256": None,
    }


def weights_digest(files: list[dict]) -> str | None:
    """One sha256 over the (name, sha256) of all weight files: equal iff the weights are byte-identical."""
    lines = sorted(f"{f['name']}\t{f['sha256']}" for f in files if f["weight"])
    return hashlib.sha256("\n".join(lines).encode()).hexdigest() if lines else None


def fetch_manifest(
    *,
    model: str,
    step: int,
    repo: str,
    revision: str,
    cache_dir: str | None,
    on_missing: str,
) -> dict:
    """Fetch one checkpoint and describe it; a missing one stops (policy "stop") or is recorded ("skip")."""
    _check_policy(on_missing, "hub.on_missing")
    try:
        snapshot, files = fetch(repo, revision, cache_dir)
    except CheckpointMissing as err:
        if on_missing == "stop":
            raise CheckpointMissing(
                f"model {model!r} step {step}: {err} (set hub.on_missing: skip to leave it out)"
            ) from err
        return missing_manifest(
            model=model, step=step, repo=repo, revision=revision, reason=str(err)
        )
    return build_manifest(snapshot, files, model=model, step=step, repo=repo, revision=revision)


def _check_policy(policy: str, key: str) -> None:
    if policy not in POLICIES:
        raise ConfigError(f"{key} must be one of {POLICIES}, got {policy!r}")


TABLE_COLUMNS = [
    "model",
    "step",
    "revision",
    "status",
    "commit",
    "weights_sha256",
    "n_weight_files",
    "weight_bytes",
    "reason",
]


def integrity_table(manifests: list[dict]) -> pd.DataFrame:
    """One row per checkpoint: status ok | missing | duplicate_of:<rev> | shares_shard_with:<rev>.

    Revisions with byte-identical weights form a group; the one with the largest step keeps status ok
    and the others are flagged duplicate_of it, because Pythia's known defect is intermediate branches
    serving final-era weights (#205). A revision sharing only some weight files with another (#206) is
    flagged shares_shard_with the largest-step revision it shares one with. The comparison spans all
    manifests given; when they hold several models, a revision is named `<model>@<revision>`.
    A few hundred rows at most, so plain loops keep the rule readable.
    """
    seen = set()
    for m in manifests:
        key = (m["model"], int(m["step"]))
        if key in seen:
            raise DataError(f"two manifests for model {key[0]!r} step {key[1]}")
        seen.add(key)
    table = pd.DataFrame(
        [
            {
                "model": m["model"],
                "step": int(m["step"]),
                "revision": m["revision"],
                "status": m["status"],
                "commit": m["commit"] or "",
                "weights_sha256": m["weights_sha256"] or "",
                "n_weight_files": sum(bool(f["weight"]) for f in m["files"]),
                "weight_bytes": sum(int(f["size"]) for f in m["files"] if f["weight"]),
                "reason": m.get("reason", ""),
            }
            for m in manifests
        ],
        columns=TABLE_COLUMNS,
    )
    models = list(dict.fromkeys(m["model"] for m in manifests))

    def name(i: int) -> str:
        m = manifests[i]
        return f"{m['model']}@{m['revision']}" if len(models) > 1 else m["revision"]

    # Largest step first (ties: config order of models): the first holder of some weights owns them.
    present = [i for i, m in enumerate(manifests) if m["status"] == "ok"]
    present.sort(key=lambda i: (-int(manifests[i]["step"]), models.index(manifests[i]["model"])))
    owner_of_weights: dict[str, int] = {}
    owner_of_file: dict[str, int] = {}
    for i in present:
        owner_of_weights.setdefault(manifests[i]["weights_sha256"], i)
        for f in manifests[i]["files"]:
            if f["weight"]:
                owner_of_file.setdefault(f["sha256"], i)
    for i in present:
        owner = owner_of_weights[manifests[i]["weights_sha256"]]
        if owner != i:
            table.at[i, "status"] = f"duplicate_of:{name(owner)}"
            continue
        others = [owner_of_file[f["sha256"]] for f in manifests[i]["files"] if f["weight"]]
        others = [j for j in others if j != i]
        if others:
            table.at[i, "status"] = f"shares_shard_with:{name(others[0])}"
    order = table["model"].map({m: k for k, m in enumerate(models)})
    table = table.assign(_order=order).sort_values(["_order", "step"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


def flagged(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"].ne("ok")]


def usable_steps(table: pd.DataFrame, model: str, on_defect: str) -> list[int]:
    """Steps of `model` to analyse: all if none is flagged; else stop (DataError) or leave them out."""
    _check_policy(on_defect, "hub.on_defect")
    rows = table[table["model"].eq(model)]
    bad = flagged(rows)
    if on_defect == "stop" and not bad.empty:
        listing = "; ".join(
            f"step {s} ({r}): {st}" for s, r, st in bad[["step", "revision", "status"]].values
        )
        raise DataError(
            f"model {model!r}: {len(bad)} checkpoint(s) failed the integrity check: {listing}. "
            f"Set hub.on_defect: skip to leave them out, or remove them from models.{model}.steps"
        )
    return sorted(int(s) for s in rows.loc[rows["status"].eq("ok"), "step"])


def read_integrity(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"model": str, "revision": str, "status": str})


def usable_specs(specs: list[dict], table: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """Split checkpoint specs into (to analyse, skipped): hub checkpoints flagged in the integrity
    table are skipped; checkpoints of other sources and unlisted ones pass through."""
    status = dict(zip(zip(table["model"], table["step"].astype(int)), table["status"], strict=True))
    keep, skip = [], []
    for spec in specs:
        flag = status.get((spec["model"], int(spec["step"])), "ok")
        (keep if spec.get("source") != "hf" or flag == "ok" else skip).append(spec)
    return keep, skip
