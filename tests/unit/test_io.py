import pytest

from lmtraj.io import atomic_write, load_ragged, save_npz, write_text


def test_failed_write_leaves_old_content_and_no_temp_file(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_ragged_round_trip(tmp_path):
    import numpy as np

    # The layout corpus_tokenize_valid writes (lmtraj.tokenizer.encode_documents): ids + offsets.
    ids, offsets = np.array([1, 2, 3, 4, 5, 6]), np.array([0, 3, 4, 6])
    save_npz(tmp_path / "d.npz", ids=ids, offsets=offsets)
    assert [d.tolist() for d in load_ragged(tmp_path / "d.npz")] == [[1, 2, 3], [4], [5, 6]]
