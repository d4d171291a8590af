"""The IDX reader, the data folder layouts, and the MNIST slice that ships in the package."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from ch9_shared.data import FILES, SHIPPED, DataError, load, read_idx
from tools.build_data import MD5, build


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_dataset(folder: Path, n_train: int = 30, n_test: int = 20, gz: bool = False,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """A small random MNIST-shaped dataset as four IDX files; returns what was written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in FILES.items():
        raw = idx_bytes(arrays[key])
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
@pytest.mark.parametrize("gz", [False, True], ids=["extracted", "gzip"])
def test_reads_both_layouts_and_both_encodings(tmp_path, layout, gz):
    folder = tmp_path / "FashionMNIST" / "raw" if layout == "torchvision" else tmp_path
    written = write_dataset(folder, gz=gz)
    data = load(tmp_path, train_size=25, test_size=20)
    assert np.array_equal(data.train_images, written["train_images"][:25].reshape(25, 784))
    assert np.array_equal(data.train_labels, written["train_labels"][:25])
    assert np.array_equal(data.test_images, written["test_images"].reshape(20, 784))
    assert np.array_equal(data.test_labels, written["test_labels"])


def test_read_idx_keeps_shape_and_type(tmp_path):
    array = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    path = tmp_path / "x.idx"
    path.write_bytes(struct.pack(">BBBB3I", 0, 0, 0x0C, 3, 2, 3, 4) + array.tobytes())
    got = read_idx(path)
    assert got.shape == (2, 3, 4) and np.array_equal(got, array) and got.dtype == np.int32


def corrupt(folder: Path, how: str) -> str:
    """Damage one file of a written dataset; return what the error message must say."""
    images = folder / FILES["train_images"]
    raw = images.read_bytes()
    if how == "magic":
        images.write_bytes(b"\x1f\x8b" + raw[2:])
        return "wrong magic number"
    if how == "truncated":
        images.write_bytes(raw[:-100])
        return "truncated"
    labels = folder / FILES["train_labels"]
    labels.write_bytes(idx_bytes(np.zeros(29, dtype=np.uint8)))
    return "30 images but 29 labels"


@pytest.mark.parametrize("how", ["magic", "truncated", "count"])
def test_rejects_bad_files_with_one_clear_line(tmp_path, how, script):
    write_dataset(tmp_path)
    expected = corrupt(tmp_path, how)
    with pytest.raises(DataError, match=expected):
        load(tmp_path, train_size=20, test_size=20)
    result = script("scripts/train.py", ["--data-dir", str(tmp_path), "--train-size", "20",
                                         "--batch-size", "10", "--test-size", "20",
                                         "--iterations", "1"])
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr


def test_truncated_gzip_is_rejected(tmp_path):
    write_dataset(tmp_path, gz=True)
    path = tmp_path / f"{FILES['test_images']}.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-7]))
    with pytest.raises(DataError, match="truncated"):
        load(tmp_path, train_size=10, test_size=20)  # the last image is cut short
    assert len(load(tmp_path, train_size=10, test_size=19).test_images) == 19  # never read


def test_labels_out_of_range_are_rejected(tmp_path):
    write_dataset(tmp_path)
    (tmp_path / FILES["test_labels"]).write_bytes(idx_bytes(np.full(20, 10, dtype=np.uint8)))
    with pytest.raises(DataError, match="label 10 out of range"):
        load(tmp_path, train_size=10, test_size=20)


def test_shipped_data_is_the_chapters_slice(dataset):
    assert dataset.train_images.shape == (1000, 784) and dataset.test_images.shape == (10000, 784)
    assert dataset.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert dataset.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert sum(p.stat().st_size for p in SHIPPED.glob("*.gz")) < 2_500_000


def test_shipped_data_equals_the_full_mnist_and_rebuilds_byte_for_byte(tmp_path, shared_mnist):
    full = load(shared_mnist, train_size=60000, test_size=10000)
    assert full.train_images.mean() / 255 == pytest.approx(0.1306604762738429, abs=1e-12)
    shipped = load()
    assert np.array_equal(shipped.train_images, full.train_images[:1000])
    assert np.array_equal(shipped.train_labels, full.train_labels[:1000])
    assert np.array_equal(shipped.test_images, full.test_images)
    assert np.array_equal(shipped.test_labels, full.test_labels)
    for path in build(shared_mnist, tmp_path):
        assert path.read_bytes() == (SHIPPED / path.name).read_bytes()


def test_build_refuses_a_file_that_is_not_mnist(tmp_path):
    write_dataset(tmp_path)
    with pytest.raises(DataError, match="MD5 differs"):
        build(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert set(MD5) == set(FILES.values())


def test_md5s_are_the_published_ones(shared_mnist):
    for name, md5 in MD5.items():
        raw = (shared_mnist / "MNIST" / "raw" / name).read_bytes()
        assert hashlib.md5(raw).hexdigest() == md5


def test_build_data_never_writes_over_its_source(tmp_path, monkeypatch, script):
    """--out the folder of the full MNIST it reads: the slice would replace it."""
    import tools.build_data

    monkeypatch.setattr(tools.build_data, "build", lambda *args: pytest.fail("it built"))
    for path in SHIPPED.glob("*.gz"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    before = {path: path.read_bytes() for path in tmp_path.iterdir()}
    ran = script("tools/build_data.py", ["--source", str(tmp_path), "--out", str(tmp_path)])
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1, ran.stderr
    assert "that is a file --source reads" in ran.stderr, ran.stderr
    assert {path: path.read_bytes() for path in tmp_path.iterdir()} == before
