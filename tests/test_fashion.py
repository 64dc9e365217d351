"""Fashion-MNIST beside MNIST: found through its own variable and folder, checked by content, named in every record."""

from __future__ import annotations

import gzip
import json
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_cli
from helpers.runs import TINY

from rnn_sweep.compare.pairing import load_results
from rnn_sweep.compare.verdicts import compare
from rnn_sweep.data import loading
from rnn_sweep.data.loading import IDX_STEMS, DataError, DataSource, load_data, locate_data
from rnn_sweep.errors import UserError
from rnn_sweep.record.columns import COLUMNS
from rnn_sweep.record.result_files import write_result


def test_real_fashion_mnist_is_balanced_and_not_mnist(fashion, mnist):
    """The publisher's split: 6,000 training and 1,000 test images of each of the ten kinds of clothing."""
    (x, y), (xt, yt) = fashion
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10
    assert not np.array_equal(x[:100], mnist[0][0][:100])


def test_each_data_set_has_its_own_variable(monkeypatch, tmp_path, mnist_path, fashion_path):
    monkeypatch.setenv("RNN_SWEEP_DATA", mnist_path)
    monkeypatch.setenv("RNN_SWEEP_FASHION_DATA", fashion_path)
    assert locate_data(None).location == Path(mnist_path).resolve()
    assert locate_data(None, "fashion_mnist").location == Path(fashion_path).resolve()
    # Without its variable, Fashion-MNIST never falls back on MNIST's: system folder, Keras' cache, download.
    monkeypatch.delenv("RNN_SWEEP_FASHION_DATA")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setitem(loading.DATA_SETS, "fashion_mnist", replace(loading.FASHION_MNIST, system_folders=()))
    assert locate_data(None, "fashion_mnist") == DataSource("download", None, "fashion_mnist")


def test_debian_folder_is_found_without_settings(monkeypatch, tmp_path):
    folder = Path("/usr/share/datasets/fashion-mnist")
    if not folder.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    monkeypatch.delenv("RNN_SWEEP_FASHION_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert locate_data(None, "fashion_mnist") == DataSource("idx", folder, "fashion_mnist")


def test_mnist_given_as_fashion_mnist_is_refused(mnist_path):
    with pytest.raises(DataError, match="not the canonical Fashion-MNIST x_train.*it is MNIST's x_train"):
        load_data(locate_data(mnist_path, "fashion_mnist"))


def test_offline_download_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.delenv("RNN_SWEEP_FASHION_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    absent = tmp_path / "not-installed"  # the system folder, as on a machine without Debian's package
    unreachable = replace(loading.FASHION_MNIST, system_folders=(str(absent),),
                          download_url="http://127.0.0.1:9/")  # nothing listens on port 9
    monkeypatch.setitem(loading.DATA_SETS, "fashion_mnist", unreachable)
    with pytest.raises(DataError) as raised:
        load_data(locate_data(None, "fashion_mnist"))
    message = str(raised.value)
    for named in ("Fashion-MNIST was not found and could not be downloaded", "RNN_SWEEP_FASHION_DATA",
                  f"nothing in {absent}", "dataset-fashion-mnist", str(tmp_path / "datasets" / "fashion-mnist")):
        assert named in message
    assert not (tmp_path / "datasets" / "fashion-mnist").exists()


def _gz_files(folder: str) -> Path:
    if not all((Path(folder) / f"{stem}.gz").is_file() for stem in IDX_STEMS.values()):
        pytest.skip(f"{folder} holds uncompressed IDX files; the download fetches .gz files")
    return Path(folder)


def test_download_keeps_only_canonical_files(monkeypatch, tmp_path, fashion_path, mnist):
    """A real download (urllib, from a file:// folder laid out as Keras' bucket) is saved only if its contents check."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for stem in IDX_STEMS.values():
        (mirror / f"{stem}.gz").symlink_to(_gz_files(fashion_path) / f"{stem}.gz")
    labels = mirror / f"{IDX_STEMS['y_test']}.gz"
    labels.unlink()
    labels.write_bytes(gzip.compress(struct.pack(">II", 2049, 10000) + mnist[1][1].tobytes()))  # MNIST's labels
    monkeypatch.delenv("RNN_SWEEP_FASHION_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setitem(loading.DATA_SETS, "fashion_mnist", replace(
        loading.FASHION_MNIST, system_folders=(), download_url=mirror.as_uri() + "/"))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz is not the canonical Fashion-MNIST y_test"):
        loading.download_data("fashion_mnist")
    assert not (tmp_path / "keras" / "datasets" / "fashion-mnist").exists()


def test_download_fills_the_keras_cache(monkeypatch, tmp_path, fashion_path):
    monkeypatch.delenv("RNN_SWEEP_FASHION_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setitem(loading.DATA_SETS, "fashion_mnist", replace(
        loading.FASHION_MNIST, system_folders=(), download_url=_gz_files(fashion_path).as_uri() + "/"))
    cache = tmp_path / "datasets" / "fashion-mnist"
    assert loading.download_data("fashion_mnist") == cache
    assert locate_data(None, "fashion_mnist") == DataSource("keras-cache", cache, "fashion_mnist")
    assert np.bincount(load_data(locate_data(None, "fashion_mnist"))[1][1]).tolist() == [1000] * 10


def _record(folder: Path, data: str | None, accuracy: float) -> None:
    record = {**dict.fromkeys(COLUMNS), "run_dir": str(folder), "status": "ok", "cell": "gru", "units": 8,
              "batch_size": 64, "optimizer": "adam", "learning_rate": 0.001, "epochs": 1, "seed": 0,
              "test_accuracy": accuracy, "overrides": [], "data": data}
    if data is None:
        del record["data"]  # as records were written before they named their data set
    write_result(folder, record)


def test_compare_never_pairs_different_data_sets(tmp_path):
    _record(tmp_path / "mnist" / "0", "mnist", 0.9)
    _record(tmp_path / "fashion" / "0", "fashion_mnist", 0.8)
    _record(tmp_path / "older" / "0", None, 0.91)  # written before records named their data set: MNIST
    with pytest.raises(UserError, match=r"No run of A matches.*data=mnist.*data=fashion_mnist"):
        compare(load_results(tmp_path / "mnist"), load_results(tmp_path / "fashion"))
    paired = compare(load_results(tmp_path / "older"), load_results(tmp_path / "mnist"))
    assert len(paired.matched) == 1 and "data" in paired.keys


@pytest.mark.slow
def test_fashion_run_names_its_data_set_everywhere(tmp_path, mnist_path, fashion_path):
    """Forked from the warm CLI: a fresh interpreter's quiet start-up does not depend on the data set, and
    test_startup_logs.py checks it."""
    sweep = tmp_path / "sweep"
    result = run_cli("-m", "data=fashion_mnist", *TINY, f"data.path={fashion_path}", f"hydra.sweep.dir={sweep}",
                     cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((sweep / "0" / "result.json").read_text())
    assert record["status"] == "ok" and record["data"] == "fashion_mnist"
    assert str(Path(fashion_path).resolve()) in record["data_source"]
    assert pd.read_csv(sweep / "results.csv")["data"].tolist() == ["fashion_mnist"]
