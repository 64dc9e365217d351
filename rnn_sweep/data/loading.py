"""Find, load, verify and split MNIST without needing the network.

Only numpy and the standard library are imported here, so that finding and
checking the data stays fast and works where Keras cannot download; the
last-resort download is plain urllib, so it too runs before TensorFlow loads.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_sweep import atomic
from rnn_sweep.errors import UserError

ENV_VAR = "RNN_SWEEP_DATA"
DOWNLOAD_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
# The file hash keras.datasets.mnist.load_data() checks its download against.
DOWNLOAD_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
DOWNLOAD_TIMEOUT = 60  # seconds without an answer before the download counts as failed

KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
SIZES = {"train": 60000, "test": 10000}

# SHA-256 of each decoded array's bytes (C-contiguous uint8) for the canonical
# MNIST, so one check covers .gz, raw IDX and .npz copies alike.
CONTENT_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

HOW_TO_POINT = (
    "Point the tool at a folder holding the four MNIST IDX files "
    f"({', '.join(IDX_STEMS.values())}; each .gz or uncompressed) or mnist.npz, "
    f"or at an .npz file: data.path=/folder/with/mnist or "
    f"export {ENV_VAR}=/folder/with/mnist."
)

Arrays = dict[str, np.ndarray]
Pair = tuple[np.ndarray, np.ndarray]


class DataError(UserError):
    """Missing, unreadable or non-canonical data; the message says where it looked and what to do."""


@dataclass(frozen=True)
class MnistSource:
    """Where MNIST will be read from; found cheaply, before any decoding."""

    kind: str  # "idx" | "npz" | "keras-cache" | "download"
    location: Path | None  # folder for idx, file for npz/keras-cache, None for download

    def describe(self) -> str:
        """One line for the result record, so a run says which data it used."""
        return {
            "idx": f"IDX files in {self.location}",
            "npz": f"NumPy archive {self.location}",
            "keras-cache": f"Keras cache {self.location}",
            "download": f"Keras download from {DOWNLOAD_URL}",
        }[self.kind]


def _keras_cache() -> Path:
    """The file keras.datasets.mnist.load_data() caches its download in."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home).expanduser() / "datasets" / "mnist.npz"


def _idx_file(folder: Path, stem: str) -> Path | None:
    """The IDX file for `stem` in `folder`, gzipped or not; None if absent."""
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _source_at(where: Path, via: str) -> MnistSource:
    """Classify an explicitly given path, or explain why it holds no MNIST."""
    if not where.exists():
        raise DataError(f"The MNIST path {where} (from {via}) does not exist. {HOW_TO_POINT}")
    if where.is_file():
        if where.suffix == ".npz":
            return MnistSource("npz", where)
        raise DataError(
            f"The MNIST path {where} (from {via}) is a file but not an .npz archive. {HOW_TO_POINT}"
        )
    missing = [stem for stem in IDX_STEMS.values() if _idx_file(where, stem) is None]
    if not missing:
        return MnistSource("idx", where)
    if (where / "mnist.npz").is_file():
        return MnistSource("npz", where / "mnist.npz")
    raise DataError(
        f"The MNIST folder {where} (from {via}) has neither all four IDX files nor "
        f"mnist.npz: missing {', '.join(missing)} (expected as .gz or uncompressed) "
        f"and mnist.npz. {HOW_TO_POINT}"
    )


def locate_mnist(path: str | None) -> MnistSource:
    """Pick the data source without decoding: `path`, then $RNN_SWEEP_DATA,
    then Keras' cached mnist.npz, else a download. An empty string counts as unset."""
    if path:
        return _source_at(Path(path).expanduser().resolve(), "data.path")
    if env := os.environ.get(ENV_VAR):
        return _source_at(Path(env).expanduser().resolve(), ENV_VAR)
    cache = _keras_cache()
    if cache.is_file():
        return MnistSource("keras-cache", cache)
    return MnistSource("download", None)


def _read_idx(file: Path, magic: int) -> np.ndarray:
    """Decode one IDX file, gzipped or not (told apart by content, not name)."""
    try:
        raw = file.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"Cannot read the MNIST file {file} ({exc}); it is missing, damaged or "
            "truncated. Replace it with a fresh copy."
        ) from exc
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise DataError(f"The MNIST file {file} is truncated: it ends inside its header.")
    found, *dims = struct.unpack(f">{1 + ndim}I", raw[:header])
    if found != magic:
        kind = "image" if magic == IMAGE_MAGIC else "label"
        raise DataError(
            f"The MNIST file {file} is not an IDX {kind} file: its magic number is {found}, expected {magic}."
        )
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataError(
            f"The MNIST file {file} is truncated or padded: its header promises "
            f"{expected} bytes of data (shape {tuple(dims)}), it holds {len(raw) - header}."
        )
    # Copy so callers get writable arrays, as from keras.datasets.mnist.
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims).copy()


def _read_npz(file: Path) -> tuple[Arrays, dict[str, str]]:
    """Read the four arrays from an archive laid out like Keras' mnist.npz."""
    try:
        npz = np.load(file, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise DataError(f"The MNIST file {file} is a .npy array, not an .npz archive.")
        with npz:
            found = sorted(npz.files)
            arrays = {key: npz[key] for key in KEYS if key in found}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(
            f"Cannot read the MNIST archive {file} ({exc}); it is damaged or not an "
            ".npz file. Replace it with a fresh copy."
        ) from exc
    if len(arrays) < len(KEYS):
        raise DataError(
            f"The MNIST archive {file} holds the arrays {found or 'none'}, but "
            f"{', '.join(KEYS)} are expected."
        )
    return arrays, {key: f"{file} (array {key})" for key in KEYS}


def download_mnist() -> Path:
    """Fetch Keras' own mnist.npz into the Keras cache (the last resort), checked against Keras' SHA-256.

    Preflight calls this before any job starts, so a machine without network gets one clear error
    before anything trains, and a sweep downloads once rather than once per job.
    """
    cache = _keras_cache()
    try:
        with urllib.request.urlopen(DOWNLOAD_URL, timeout=DOWNLOAD_TIMEOUT) as response:
            payload = response.read()
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections, a malformed proxy URL
        raise DataError(
            f"MNIST was not found and could not be downloaded: data.path is not set, {ENV_VAR} is not set, "
            f"there is no Keras cache at {cache}, and downloading {DOWNLOAD_URL} failed "
            f"({getattr(exc, 'reason', exc)}). {HOW_TO_POINT}"
        ) from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != DOWNLOAD_SHA256:
        raise DataError(
            f"The download from {DOWNLOAD_URL} is not Keras' mnist.npz (SHA-256 {digest}, expected "
            f"{DOWNLOAD_SHA256}); nothing was saved. Try again later. {HOW_TO_POINT}"
        )
    atomic.write_bytes(cache, payload)
    return cache


def _read(source: MnistSource) -> tuple[Arrays, dict[str, str]]:
    """The raw arrays of `source`, each with the file it came from (for messages)."""
    if source.kind == "idx":
        arrays, origins = {}, {}
        for key, stem in IDX_STEMS.items():
            file = _idx_file(source.location, stem) or source.location / f"{stem}.gz"
            magic = IMAGE_MAGIC if key.startswith("x") else LABEL_MAGIC
            arrays[key], origins[key] = _read_idx(file, magic), str(file)
        return arrays, origins
    if source.kind in ("npz", "keras-cache"):
        return _read_npz(source.location)
    if source.kind == "download":
        return _read_npz(download_mnist())
    raise ValueError(f"unknown MNIST source kind {source.kind!r}")


def _check(arrays: Arrays, origins: dict[str, str]) -> None:
    """Shape, dtype and label range checks that also apply to custom data."""
    for split, n in SIZES.items():
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.shape != (n, 28, 28):
            raise DataError(
                f"{origins[f'x_{split}']} holds {x.dtype} images of shape {x.shape}; "
                f"MNIST {split} images must be uint8 of shape ({n}, 28, 28)."
            )
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (n,):
            raise DataError(
                f"{origins[f'y_{split}']} holds {y.dtype} labels of shape {y.shape}; "
                f"expected {n} integer labels, one per image."
            )
        bad = y[(y < 0) | (y > 9)]
        if bad.size:
            raise DataError(f"{origins[f'y_{split}']} holds the label {bad[0]}; MNIST labels must be 0..9.")
        arrays[f"y_{split}"] = y.astype(np.uint8)


def _verify(arrays: Arrays, origins: dict[str, str]) -> None:
    """Catch corrupt or modified copies that still decode cleanly."""
    for key, want in CONTENT_SHA256.items():
        digest = hashlib.sha256(np.ascontiguousarray(arrays[key]).data).hexdigest()
        if digest != want:
            raise DataError(
                f"{origins[key]} is not the canonical MNIST {key}: its content SHA-256 is "
                f"{digest}, expected {want}, so the file is corrupt or modified. Replace it "
                "with a fresh copy, or set data.verify=false to skip this check for custom data."
            )


def load_mnist(source: MnistSource, verify: bool = True) -> tuple[Pair, Pair]:
    """((x_train, y_train), (x_test, y_test)) as uint8, like keras.datasets.mnist.load_data().

    Every problem becomes a DataError naming the file, so users never see a traceback."""
    arrays, origins = _read(source)
    _check(arrays, origins)
    if verify:
        _verify(arrays, origins)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Splits:
    """Model-ready data: images float32 (N, 28, 28) in [0, 1], labels int32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def balanced_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of `n` examples spread as evenly over the classes as they allow.

    Small quick runs then still see every digit about equally often. A class
    with too few examples gives all it has and the rest is shared among the
    others; the leftover n % classes goes to classes in a seeded random order.
    The result is in a seeded random order; n >= len(labels) gives a seeded
    permutation of all indices."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    if n >= len(labels):
        return rng.permutation(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    order = rng.permutation(len(classes))  # who gets the leftover first
    quota = np.zeros_like(counts)
    remaining = n
    while remaining:
        open_ = order[quota[order] < counts[order]]
        share = remaining // len(open_)
        if share == 0:
            quota[open_[:remaining]] += 1
            break
        grant = np.minimum(share, counts[open_] - quota[open_])
        quota[open_] += grant
        remaining -= int(grant.sum())
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
        for c, k in zip(classes, quota, strict=True)
    ]
    return rng.permutation(np.concatenate(chosen))


def make_splits(
    train: Pair,
    test: Pair,
    *,
    limit_train: int | None,
    limit_test: int | None,
    validation_split: float,
    seed: int,
) -> Splits:
    """Subset, split and scale the data, all reproducible from `seed`.

    The (limited) training set is shuffled with the seed and its first
    floor(len * validation_split) examples become the validation set, so the
    two never overlap. The test set keeps its order unless limited (then it
    is a balanced subset drawn with seed + 1)."""
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    (x, y), (x_test, y_test) = train, test
    picked = balanced_subset(y, len(y) if limit_train is None else limit_train, seed)
    n_val = int(len(picked) * validation_split)
    val, kept = picked[:n_val], picked[n_val:]
    if limit_test is not None:
        test_idx = balanced_subset(y_test, limit_test, seed + 1)
        x_test, y_test = x_test[test_idx], y_test[test_idx]

    def scale(images: np.ndarray) -> np.ndarray:
        return images.astype(np.float32) / np.float32(255)

    return Splits(
        x_train=scale(x[kept]),
        y_train=y[kept].astype(np.int32),
        x_val=scale(x[val]),
        y_val=y[val].astype(np.int32),
        x_test=scale(x_test),
        y_test=y_test.astype(np.int32),
    )
