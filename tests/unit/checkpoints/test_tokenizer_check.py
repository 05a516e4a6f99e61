import logging
import shutil
from pathlib import Path

import pytest

from lmtraj.checkpoints.model import ModelShape, build_model
from lmtraj.checkpoints.storage import save_checkpoint
from lmtraj.checkpoints.tokenizer_check import check_shared_tokenizer
from lmtraj.errors import DataError
from lmtraj.tokenizer import save_tokenizer, train_bpe

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
LOG = logging.getLogger("test")


@pytest.fixture(scope="module")
def tokenizers():
    hamlet = (FIXTURES / "hamlet_acts_1-2.txt").read_text()
    ruth = (FIXTURES / "ruth.txt").read_text()
    return train_bpe([hamlet], 300), train_bpe([ruth], 300)


def add_tokenizer(checkpoint_dir, tok):
    save_tokenizer(
        tok, checkpoint_dir.with_name(checkpoint_dir.name + "-tok")
    )  # replaces a whole dir
    for f in checkpoint_dir.with_name(checkpoint_dir.name + "-tok").iterdir():
        shutil.copy(f, checkpoint_dir / f.name)


def local_checkpoint(path, tok):
    model = build_model(ModelShape(16, 1, 2, 16, len(tok)), tok.eos_token_id, seed=0)
    save_checkpoint(model, path, {"step": 0})
    return {
        "model": path.name,
        "step": 0,
        "source": "local",
        "path": str(path),
        "tokens_per_step": 1,
    }


def test_same_tokenizer_passes_and_a_different_one_is_named(tmp_path, tokenizers):
    run_tok, other_tok = tokenizers
    same = local_checkpoint(tmp_path / "same-model", run_tok)
    add_tokenizer(tmp_path / "same-model", run_tok)
    bare = local_checkpoint(tmp_path / "bare-model", run_tok)
    rows = check_shared_tokenizer(run_tok, [same, bare], LOG)
    assert [r["status"] for r in rows] == [
        "ok",
        "ok (vocabulary size checked; no tokenizer in checkpoint)",
    ]
    other = local_checkpoint(tmp_path / "other-model", other_tok)
    add_tokenizer(tmp_path / "other-model", other_tok)
    with pytest.raises(DataError, match=r"these do not: other-model \(different tokenizer\)"):
        check_shared_tokenizer(run_tok, [same, other], LOG)


def test_too_small_embedding_is_named(tmp_path, tokenizers):
    run_tok, _ = tokenizers
    small = build_model(ModelShape(16, 1, 2, 16, 100), run_tok.eos_token_id, seed=0)
    save_checkpoint(small, tmp_path / "small-model", {"step": 0})
    spec = {
        "model": "small-model",
        "step": 0,
        "source": "local",
        "path": str(tmp_path / "small-model"),
    }
    with pytest.raises(DataError, match=r"small-model \(embedding has 100 rows < 300 tokens\)"):
        check_shared_tokenizer(run_tok, [spec], LOG)
