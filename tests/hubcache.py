"""Build a Hugging Face hub cache on disk, with no network: a tiny random GPT-NeoX and its tokenizer
under Pythia-style revisions (`step0`, `step1`, ... and `main`) of one repository id.

The layout is the one huggingface_hub writes (`models--Org--name/{blobs,refs,snapshots,trees}`):
blobs are named by their ETag (sha256 for LFS files such as weights, the git blob sha1 otherwise),
`refs/<branch>` holds a commit hash, `snapshots/<commit>/<file>` are relative symlinks to blobs, and
`trees/<commit>.json` is the cached tree listing that offline `snapshot_download` checks snapshots
against. So `from_pretrained(repo, revision="step2", cache_dir=...)` and `snapshot_download(...)` with
HF_HUB_OFFLINE=1 find their files exactly as after a real download.

Defects can be planted as in Pythia's hub repos: a branch serving another branch's weights
(`duplicates={2: 8}`: step2 holds step8's bytes, EleutherAI/pythia#205) and a branch without
weights (`no_weights=(4,)`, a partial upload, #94).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_ID = "EleutherAI/pythia-tiny-test"
FIXTURE_CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
# The model's shape: small enough to build a dozen revisions in about a second.
MODEL_SHAPE = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=128,
)
_LFS = (".safetensors", ".bin")
_FALLBACK_TEXT = (
    "In the beginning was the word, and the word was with the reader. "
    "To be, or not to be, that is the question. "
) * 40


@dataclass
class FakeHub:
    """What was built, for the tests' expectations."""

    cache_dir: Path
    repo_id: str
    revisions: dict[int, str]  # step -> branch name
    commits: dict[str, str] = field(default_factory=dict)  # branch -> commit hash
    weights_sha256: dict[str, str] = field(
        default_factory=dict
    )  # branch -> model.safetensors sha256
    probe: dict[str, list[float]] = field(
        default_factory=dict
    )  # branch -> first weights of embed_out
    duplicates: dict[int, int] = field(default_factory=dict)  # step -> step whose weights it holds
    no_weights: tuple[int, ...] = ()
    vocab_size: int = 0

    @property
    def repo_dir(self) -> Path:
        return self.cache_dir / ("models--" + self.repo_id.replace("/", "--"))


def git_blob_sha1(data: bytes) -> str:
    """The id git (and the hub's ETag for non-LFS files) gives a file's content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


def train_tokenizer(vocab_size: int):
    """The repo's tokenizer: the fixture corpus's byte-level BPE (lmtraj.tokenizer's recipe)."""
    from lmtraj.tokenizer import train_bpe

    texts = [p.read_text(encoding="utf-8") for p in sorted(FIXTURE_CORPUS.glob("*.txt"))]
    return train_bpe(texts or [_FALLBACK_TEXT], vocab_size)


def model_files(
    step: int, vocab_size: int, seed: int, workdir: Path, shape: dict | None = None
) -> dict[str, bytes]:
    """config.json, generation_config.json and model.safetensors of a random model for `step`."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(seed * 100_003 + step)
    cfg = GPTNeoXConfig(
        vocab_size=vocab_size, bos_token_id=0, eos_token_id=0, **{**MODEL_SHAPE, **(shape or {})}
    )
    model = GPTNeoXForCausalLM(cfg)
    out = workdir / f"step{step}"
    model.save_pretrained(out)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def tokenizer_files(tok, workdir: Path) -> dict[str, bytes]:
    out = workdir / "tokenizer"
    tok.save_pretrained(out)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def _commit_hash(repo_id: str, branch: str, files: dict[str, bytes]) -> str:
    """A deterministic 40-hex commit id: distinct per branch even when the files are equal."""
    h = hashlib.sha1(f"{repo_id}\0{branch}\0".encode())
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def add_revision(repo_dir: Path, repo_id: str, branch: str, files: dict[str, bytes]) -> str:
    """Store `files` as branch `branch` in the cache, exactly as a snapshot_download would; return the commit."""
    commit = _commit_hash(repo_id, branch, files)
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    tree = {}
    for name, data in sorted(files.items()):
        if name.endswith(_LFS):
            etag = hashlib.sha256(data).hexdigest()
            entry = {
                "size": len(_lfs_pointer(etag, len(data))),
                "blob_id": git_blob_sha1(_lfs_pointer(etag, len(data))),
                "lfs_sha256": etag,
                "lfs_size": len(data),
            }
        else:
            etag = git_blob_sha1(data)
            entry = {"size": len(data), "blob_id": etag}
        blob = repo_dir / "blobs" / etag
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
        tree[name] = entry
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / branch).write_text(commit)  # huggingface_hub writes no trailing newline
    (repo_dir / "trees").mkdir(exist_ok=True)
    listing = {"format_version": 1, "files": {k: tree[k] for k in sorted(tree)}}
    (repo_dir / "trees" / f"{commit}.json").write_text(json.dumps(listing, indent=1))
    return commit


def build_hub_cache(
    cache_dir: str | os.PathLike,
    *,
    repo_id: str = REPO_ID,
    steps: tuple[int, ...] = (0, 1, 2, 4, 8),
    duplicates: dict[int, int] | None = None,
    no_weights: tuple[int, ...] = (),
    vocab_size: int = 320,
    seed: int = 0,
    shape: dict | None = None,
    branches: dict[int, str] | None = None,
) -> FakeHub:
    """Write the cache; `main` points at the last step's commit's files, as Pythia's main = step143000.

    duplicates: {step: source_step}: branch `step{step}` carries the weight bytes of `step{source_step}`.
    no_weights: branches that hold config and tokenizer but no weight file.
    shape: GPTNeoXConfig fields replacing MODEL_SHAPE's (e.g. a wider model for a second "size").
    Several repositories can share one cache_dir (call once per repo_id).
    branches: {step: branch name} for repos whose branches are not `step{step}` (OLMo's carry token counts).
    """
    from safetensors.torch import load

    duplicates = dict(duplicates or {})
    for step, source in duplicates.items():
        if step not in steps or source not in steps or step == source:
            raise ValueError(
                f"duplicates {step}->{source}: both must be distinct members of steps {steps}"
            )
    cache_dir = Path(cache_dir)
    hub = FakeHub(
        cache_dir=cache_dir,
        repo_id=repo_id,
        revisions={s: (branches or {}).get(s, f"step{s}") for s in steps},
        duplicates=duplicates,
        no_weights=tuple(no_weights),
        vocab_size=vocab_size,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tok = train_tokenizer(vocab_size)
        tok_files = tokenizer_files(tok, tmp)
        own = {s: model_files(s, len(tok), seed, tmp, shape) for s in steps}
        for step in steps:
            files = dict(own[step])
            if step in duplicates:
                files["model.safetensors"] = own[duplicates[step]]["model.safetensors"]
            if step in no_weights:
                files.pop("model.safetensors")
            files.update(tok_files)
            branch = hub.revisions[step]
            hub.commits[branch] = add_revision(hub.repo_dir, repo_id, branch, files)
            if "model.safetensors" in files:
                weights = files["model.safetensors"]
                hub.weights_sha256[branch] = hashlib.sha256(weights).hexdigest()
                hub.probe[branch] = load(weights)["embed_out.weight"][0, :4].tolist()
        last = max(steps)
        main_files = {**own[last], **tok_files}
        hub.commits["main"] = add_revision(hub.repo_dir, repo_id, "main", main_files)
        hub.weights_sha256["main"] = hub.weights_sha256[hub.revisions[last]]
        hub.probe["main"] = hub.probe[hub.revisions[last]]
    hub.vocab_size = len(tok)
    return hub


# ---- the network of a workflow run ------------------------------------------------------------------
def offline_env(**extra: str) -> dict[str, str]:
    """The environment of a run whose network rules (checkpoints_fetch, corpus_tokenizer, corpus_prepare)
    must find everything in the fake cache: the stand-in for a network that knows these repos."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **extra}


@dataclass
class RecordingHub:
    """A local stand-in for the hub's endpoint that answers 404 and records every request."""

    url: str
    requests: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The environment of a run with no offline variable, whose hub is this endpoint."""
        env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
        return {**env, "HF_ENDPOINT": self.url}


@contextlib.contextmanager
def recording_hub():
    """A RecordingHub served from a thread for the duration of the block."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            seen.append(f"{self.command} {self.path}")
            body = b'{"error": "not served by the test"}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = _answer

        def log_message(self, *args):  # no line per request on stderr
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RecordingHub(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()
