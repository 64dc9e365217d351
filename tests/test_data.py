"""Finding, loading, verifying and splitting MNIST, against the real data."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_sweep.data.loading import (
    IDX_STEMS,
    DataError,
    DataSource,
    balanced_subset,
    load_data,
    locate_data,
    make_splits,
)

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="session")
def real(mnist):
    """The real data (see conftest: found the way the tool finds it), decoded and verified once."""
    return mnist


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An uncompressed IDX file for a uint8 array (magic from its rank unless given)."""
    magic = magic or (2051 if array.ndim == 3 else 2049)
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def raw_dir(real, tmp_path_factory) -> Path:
    """The real data as the four uncompressed IDX files (what gunzip of the .gz gives)."""
    folder = tmp_path_factory.mktemp("raw")
    (x, y), (xt, yt) = real
    for key, array in {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt}.items():
        (folder / IDX_STEMS[key]).write_bytes(idx_bytes(array))
    return folder


@pytest.fixture(scope="module")
def npz_file(real, tmp_path_factory) -> Path:
    """The real data as Keras lays out mnist.npz."""
    file = tmp_path_factory.mktemp("npz") / "mnist.npz"
    (x, y), (xt, yt) = real
    np.savez_compressed(file, x_train=x, y_train=y, x_test=xt, y_test=yt)
    return file


def variant(raw_dir: Path, folder: Path, **files: bytes) -> Path:
    """`folder` holding raw_dir's IDX files (as links), except `files` (name -> content)."""
    for stem in IDX_STEMS.values():
        if not any(name.startswith(stem) for name in files):
            (folder / stem).symlink_to(raw_dir / stem)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def assert_is_mnist(data) -> None:
    (x, y), (xt, yt) = data
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert {a.dtype for a in (x, y, xt, yt)} == {np.dtype(np.uint8)}
    assert np.bincount(y).tolist() == TRAIN_COUNTS
    assert np.bincount(yt).tolist() == TEST_COUNTS


# --- locating and loading ------------------------------------------------------------------------------


def test_loads_real_data(real):
    assert_is_mnist(real)


def test_loads_raw_idx(raw_dir):
    source = locate_data(str(raw_dir))
    assert source == DataSource("idx", raw_dir.resolve())
    assert str(raw_dir.resolve()) in source.describe()
    assert_is_mnist(load_data(source))


def test_gzip_told_by_content_not_name(real, raw_dir, tmp_path):
    (_, y), (_, yt) = real
    folder = variant(
        raw_dir,
        tmp_path,
        **{
            IDX_STEMS["y_train"]: gzip.compress(idx_bytes(y)),  # gzip without .gz
            IDX_STEMS["y_test"] + ".gz": idx_bytes(yt),  # raw named .gz
        },
    )
    assert_is_mnist(load_data(locate_data(str(folder))))


def test_loads_npz_from_folder_and_file(npz_file):
    for where in (npz_file.parent, npz_file):
        source = locate_data(str(where))
        assert source == DataSource("npz", npz_file.resolve())
        assert_is_mnist(load_data(source))


def test_env_var_used_without_path(npz_file, monkeypatch):
    monkeypatch.setenv("RNN_SWEEP_DATA", str(npz_file.parent))
    assert locate_data(None) == DataSource("npz", npz_file.resolve())
    assert locate_data("") == DataSource("npz", npz_file.resolve())


def test_keras_cache_used_without_path_or_env(npz_file, monkeypatch, tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").symlink_to(npz_file)
    monkeypatch.delenv("RNN_SWEEP_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    source = locate_data(None)
    assert source == DataSource("keras-cache", tmp_path / "datasets" / "mnist.npz")
    assert_is_mnist(load_data(source))


def test_download_is_the_last_resort(monkeypatch, tmp_path):
    monkeypatch.delenv("RNN_SWEEP_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    source = locate_data(None)
    assert source == DataSource("download", None)
    assert "storage.googleapis.com" in source.describe()


def test_download_fills_the_keras_cache_only_with_the_expected_file(monkeypatch, tmp_path, npz_file):
    """The download is real (urllib, here from a file:// URL); only a file with the expected SHA-256 is kept."""
    from rnn_sweep.data import loading as data

    monkeypatch.delenv("RNN_SWEEP_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setitem(data.DATA_SETS, "mnist", replace(data.MNIST, download_url=npz_file.as_uri()))
    with pytest.raises(DataError, match="is not Keras' mnist.npz .* nothing was saved"):
        data.download_data()
    assert locate_data(None).kind == "download"

    expected = hashlib.sha256(npz_file.read_bytes()).hexdigest()
    monkeypatch.setitem(data.DATA_SETS, "mnist", replace(data.MNIST, download_url=npz_file.as_uri(),
                                                           download_sha256=expected))
    assert data.download_data() == tmp_path / "datasets" / "mnist.npz"
    source = locate_data(None)
    assert source == DataSource("keras-cache", tmp_path / "datasets" / "mnist.npz")
    assert_is_mnist(load_data(source))


def test_missing_folder_says_how_to_fix(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DataError, match="RNN_SWEEP_DATA") as error:
        locate_data(str(missing))
    assert str(missing) in str(error.value) and "data.path=" in str(error.value)
    monkeypatch.setenv("RNN_SWEEP_DATA", str(missing))
    with pytest.raises(DataError, match=r"from RNN_SWEEP_DATA"):
        locate_data(None)


def test_folder_missing_one_file_names_it(tmp_path):
    for stem in list(IDX_STEMS.values())[:3]:
        (tmp_path / f"{stem}.gz").touch()
    with pytest.raises(DataError, match=rf"missing {IDX_STEMS['y_test']} \(expected as .gz or uncompressed"):
        locate_data(str(tmp_path))


def test_other_file_is_refused(tmp_path):
    (tmp_path / "train.csv").touch()
    with pytest.raises(DataError, match="not an .npz"):
        locate_data(str(tmp_path / "train.csv"))


# --- damaged and modified files ------------------------------------------------------------------------

LABELS = IDX_STEMS["y_train"]


@pytest.fixture(scope="module")
def labels_gz(real) -> bytes:
    return gzip.compress(idx_bytes(real[0][1]))


def flip(content: bytes, at: int) -> bytes:
    return content[:at] + bytes([content[at] ^ 0xFF]) + content[at + 1 :]


@pytest.mark.parametrize(
    "damage",
    [
        lambda gz: gz[: len(gz) // 2],  # truncated stream
        lambda gz: flip(gz, len(gz) - 8),  # stored CRC no longer matches
        lambda gz: flip(gz, len(gz) // 2),  # deflate data damaged
    ],
    ids=["truncated", "crc", "deflate"],
)
def test_damaged_gzip_names_the_file(raw_dir, tmp_path, labels_gz, damage):
    folder = variant(raw_dir, tmp_path, **{f"{LABELS}.gz": damage(labels_gz)})
    with pytest.raises(DataError, match=f"{LABELS}.gz"):
        load_data(locate_data(str(folder)))


def test_truncated_raw_file_names_it(real, raw_dir, tmp_path):
    folder = variant(raw_dir, tmp_path, **{LABELS: idx_bytes(real[0][1])[:-1]})
    with pytest.raises(DataError, match=f"{LABELS}.*truncated"):
        load_data(locate_data(str(folder)), verify=False)


def test_wrong_magic_number(real, raw_dir, tmp_path):
    folder = variant(raw_dir, tmp_path, **{LABELS: idx_bytes(real[0][1], magic=2051)})
    with pytest.raises(DataError, match="magic number is 2051, expected 2049"):
        load_data(locate_data(str(folder)), verify=False)


def test_label_out_of_range(real, raw_dir, tmp_path):
    labels = real[0][1].copy()
    labels[123] = 10
    folder = variant(raw_dir, tmp_path, **{LABELS: idx_bytes(labels)})
    with pytest.raises(DataError, match=f"{LABELS}.*label 10"):
        load_data(locate_data(str(folder)), verify=False)


def test_changed_pixel_fails_verification_unless_disabled(real, raw_dir, tmp_path):
    images = real[1][0].copy()
    images[0, 14, 14] ^= 1
    stem = IDX_STEMS["x_test"]
    source = locate_data(str(variant(raw_dir, tmp_path, **{stem: idx_bytes(images)})))
    with pytest.raises(DataError, match=f"{stem} is not the canonical MNIST.*data.verify=false"):
        load_data(source)
    (_, _), (x_test, _) = load_data(source, verify=False)
    np.testing.assert_array_equal(x_test, images)


def test_the_data_is_decoded_once_per_process_until_a_file_changes(real, raw_dir, tmp_path):
    """A sweep's jobs in one process share one decoded, verified copy; a file changed since is read and checked again
    (the decoding takes about a second, far past the file system's timestamp granularity)."""
    folder = tmp_path / "copy"
    folder.mkdir()
    for stem in IDX_STEMS.values():
        shutil.copyfile(raw_dir / stem, folder / stem)
    source = locate_data(str(folder))
    first = load_data(source)
    assert load_data(source)[1][0] is first[1][0]
    assert not any(array.flags.writeable for pair in first for array in pair)  # no job can change the next one's
    images = real[1][0].copy()
    images[0, 14, 14] ^= 1
    (folder / IDX_STEMS["x_test"]).write_bytes(idx_bytes(images))
    with pytest.raises(DataError, match="is not the canonical MNIST"):
        load_data(source)


def test_npz_missing_keys_lists_them(real, tmp_path):
    file = tmp_path / "mnist.npz"
    np.savez(file, x_train=real[0][0][:2], labels=real[0][1][:2])
    with pytest.raises(DataError, match=r"\['labels', 'x_train'\].*x_train, y_train, x_test, y_test"):
        load_data(locate_data(str(file)))


def test_wrong_shape_names_the_array(real, tmp_path):
    (x, y), (xt, yt) = real
    file = tmp_path / "mnist.npz"
    np.savez(file, x_train=x[:, :, :27], y_train=y, x_test=xt, y_test=yt)  # one pixel column short
    with pytest.raises(DataError, match=r"x_train\) holds uint8 images of shape \(60000, 28, 27\);.*\(60000, 28, 28\)"):
        load_data(locate_data(str(file)))


# --- subsets and splits --------------------------------------------------------------------------------


def test_balanced_subset_is_exactly_balanced(real):
    y = real[0][1]
    picked = balanced_subset(y, 1000, seed=0)
    assert len(np.unique(picked)) == 1000
    assert np.bincount(y[picked]).tolist() == [100] * 10
    assert sorted(np.bincount(y[balanced_subset(y, 1003, seed=0)])) == [100] * 7 + [101] * 3


def test_balanced_subset_is_seeded(real):
    y = real[0][1]
    np.testing.assert_array_equal(balanced_subset(y, 500, seed=3), balanced_subset(y, 500, seed=3))
    assert not np.array_equal(balanced_subset(y, 500, seed=3), balanced_subset(y, 500, seed=4))


def test_balanced_subset_larger_than_data_is_a_permutation():
    labels = np.array([0, 0, 1, 2, 2, 2])
    for n in (6, 100):
        picked = balanced_subset(labels, n, seed=1)
        assert sorted(picked) == list(range(6))
    with pytest.raises(ValueError):
        balanced_subset(labels, 0, seed=1)


def test_balanced_subset_shares_out_a_scarce_class():
    labels = np.repeat([0, 1, 2], [2, 50, 50])
    assert np.bincount(labels[balanced_subset(labels, 30, seed=0)]).tolist() == [2, 14, 14]


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    n=st.integers(1, 200),
    seed=st.integers(0, 2**32 - 1),
)
def test_balanced_subset_is_max_min_fair(counts, n, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    picked = balanced_subset(labels, n, seed)
    assert len(picked) == min(n, len(labels)) == len(set(picked.tolist()))
    taken = np.bincount(labels[picked], minlength=len(counts))
    # A class short of the others has given everything it has.
    for class_taken, available in zip(taken, counts, strict=True):
        assert class_taken == available or class_taken >= taken.max() - 1


def digest_labels(x: np.ndarray, y: np.ndarray) -> dict[bytes, int]:
    """Each image's hash -> its label, to compare examples across scaling."""
    return {hashlib.sha1(image.tobytes()).digest(): int(label) for image, label in zip(x, y, strict=True)}


def test_make_splits(real):
    (x, y), test = real
    splits = make_splits(real[0], test, limit_train=1000, limit_test=500, validation_split=0.1, seed=0)
    assert splits.x_train.shape == (900, 28, 28) and splits.y_train.shape == (900,)
    assert splits.x_val.shape == (100, 28, 28) and splits.y_val.shape == (100,)
    assert splits.x_test.shape == (500, 28, 28)
    assert np.bincount(splits.y_test).tolist() == [50] * 10
    for images, labels in [(splits.x_train, splits.y_train), (splits.x_val, splits.y_val)]:
        assert images.dtype == np.float32 and labels.dtype == np.int32
        assert images.min() == 0.0 and images.max() == 1.0
    # Same examples, labels still attached, and train and val never share an example.
    original = digest_labels(x, y)
    train = digest_labels(np.rint(splits.x_train * 255).astype(np.uint8), splits.y_train)
    val = digest_labels(np.rint(splits.x_val * 255).astype(np.uint8), splits.y_val)
    assert len(train) == 900 and len(val) == 100 and not train.keys() & val.keys()
    assert all(original[h] == label for h, label in {**train, **val}.items())
    assert np.bincount(np.concatenate([splits.y_train, splits.y_val])).tolist() == [100] * 10


def test_make_splits_is_reproducible_and_floors_val(real):
    kwargs = dict(limit_train=10, limit_test=None, validation_split=0.25)
    first, again = (make_splits(*real, **kwargs, seed=5) for _ in range(2))
    assert len(first.x_val) == 2 and len(first.x_train) == 8  # floor(10 * 0.25)
    assert len(first.x_test) == 10000
    np.testing.assert_array_equal(first.x_val, again.x_val)
    np.testing.assert_array_equal(first.y_train, again.y_train)


def test_make_splits_without_validation_or_limits(real):
    splits = make_splits(*real, limit_train=None, limit_test=None, validation_split=0.0, seed=0)
    assert splits.x_train.shape == (60000, 28, 28)
    assert splits.x_val.shape == (0, 28, 28) and splits.y_val.shape == (0,)
    assert splits.y_val.dtype == np.int32
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError):
            make_splits(*real, limit_train=None, limit_test=None, validation_split=bad, seed=0)
