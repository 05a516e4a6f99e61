"""Integrity of hub checkpoints: manifests (files, sizes, sha256), the integrity table across
revisions, and the skip / stop policies for missing or duplicated revisions.

A manifest is a plain dict (written as JSON, one per checkpoint):
  {"model", "step", "repo", "revision", "status": "ok" | "missing", "reason", "commit",
   "files": [{"name", "size", "sha256", "weight"}], "weights_sha256"}
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pandas as pd

from lmtraj.checkpoints.hub import CheckpointMissing, fetch, is_weight_file
from lmtraj.errors import ConfigError, DataError
from lmtraj.registry import sha256_file

POLICIES = ("skip", "stop")


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
