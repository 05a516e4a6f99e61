import pytest

from lmtraj.io import atomic_write, load_ragged, save_ragged, write_text


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

    docs = [np.array([1, 2, 3]), np.array([4]), np.array([5, 6])]
    save_ragged(tmp_path / "d.npz", docs)
    assert [d.tolist() for d in load_ragged(tmp_path / "d.npz")] == [[1, 2, 3], [4], [5, 6]]
