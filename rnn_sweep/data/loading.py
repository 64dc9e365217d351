"""Find, load, verify and split MNIST and Fashion-MNIST without needing the network.

Both data sets come as the same four IDX files; each has its own environment variable, system folder,
Keras cache and checksums (`DataSet`). Only numpy and the standard library are imported here, so that
finding and checking the data stays fast and works where Keras cannot download; the last-resort download
is plain urllib, so it too runs before TensorFlow loads.
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
from functools import lru_cache
from pathlib import Path

import numpy as np

from rnn_sweep import atomic
from rnn_sweep.errors import UserError

DOWNLOAD_TIMEOUT = 60  # seconds without an answer before the download counts as failed
KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
SIZES = {"train": 60000, "test": 10000}


@dataclass(frozen=True)
class DataSet:
    """Where one data set is looked for, and what its canonical copy decodes to.

    `content_sha256` holds the SHA-256 of each decoded array's bytes (C-contiguous uint8), so one check
    covers .gz, raw IDX and .npz copies alike, whatever gzip wrote into the archive's header.
    """

    name: str  # data.name
    title: str  # how messages name it
    env_var: str  # the folder (or .npz) given by environment, as data.path defaults to it
    system_folders: tuple[str, ...]  # where a distribution package installs the IDX files
    npz_name: str | None  # Keras' one-file archive, for data sets that have one
    keras_cache: str  # below $KERAS_HOME (~/.keras): the file or folder keras.datasets fills
    download_url: str  # Keras' own copy: one .npz, or a folder holding the four .gz files
    download_sha256: str | None  # of the .npz download; the .gz downloads are checked by content
    content_sha256: dict[str, str]

    def how_to_point(self) -> str:
        """The sentence every 'not found' error ends with."""
        archive = f" or {self.npz_name}" if self.npz_name else ""
        packaged = "".join(f" Debian's package dataset-{self.name.replace('_', '-')} puts them in {folder}."
                           for folder in self.system_folders)
        return (
            f"Point the tool at a folder holding the four {self.title} IDX files "
            f"({', '.join(IDX_STEMS.values())}; each .gz or uncompressed){archive}"
            f"{', or at an .npz file' if self.npz_name else ''}: data.path=/folder or "
            f"export {self.env_var}=/folder.{packaged}"
        )


MNIST = DataSet(
    name="mnist",
    title="MNIST",
    env_var="RNN_SWEEP_DATA",
    system_folders=(),
    npz_name="mnist.npz",
    keras_cache="datasets/mnist.npz",
    download_url=f"{KERAS_BASE_URL}mnist.npz",
    # The file hash keras.datasets.mnist.load_data() checks its download against.
    download_sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    content_sha256={
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
)
# Computed from Debian's dataset-fashion-mnist files, whose decompressed IDX files have the SHA-256s other
# projects list for the publisher's archives (train images c59f468a..., train labels bad3541b..., test images
# 5b4141f0..., test labels 0402a96d...). Debian's .gz files themselves differ from the publisher's (other MD5s),
# which is why the contents are checked, not the archives. keras.datasets.fashion_mnist checks no hash at all.
FASHION_MNIST = DataSet(
    name="fashion_mnist",
    title="Fashion-MNIST",
    env_var="RNN_SWEEP_FASHION_DATA",
    system_folders=("/usr/share/datasets/fashion-mnist",),
    npz_name=None,
    keras_cache="datasets/fashion-mnist",
    download_url=KERAS_BASE_URL,
    download_sha256=None,
    content_sha256={
        "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    },
)
DATA_SETS = {data_set.name: data_set for data_set in (MNIST, FASHION_MNIST)}

Arrays = dict[str, np.ndarray]
Pair = tuple[np.ndarray, np.ndarray]


class DataError(UserError):
    """Missing, unreadable or non-canonical data; the message says where it looked and what to do."""


@dataclass(frozen=True)
class DataSource:
    """Where a data set will be read from; found cheaply, before any decoding."""

    kind: str  # "idx" | "npz" | "keras-cache" | "download"
    location: Path | None  # folder for idx, file for npz, file or folder for keras-cache, None for download
    data_set: str = "mnist"

    @property
    def spec(self) -> DataSet:
        return DATA_SETS[self.data_set]

    def describe(self) -> str:
        """One line for the result record, so a run says which data it used."""
        return {
            "idx": f"IDX files in {self.location}",
            "npz": f"NumPy archive {self.location}",
            "keras-cache": f"Keras cache {self.location}",
            "download": f"Keras download from {self.spec.download_url}",
        }[self.kind]


def _keras_cache(spec: DataSet) -> Path:
    """The file or folder keras.datasets.<name>.load_data() caches its download in."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home).expanduser() / spec.keras_cache


def _idx_file(folder: Path, stem: str) -> Path | None:
    """The IDX file for `stem` in `folder`, gzipped or not; None if absent."""
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _missing_idx(folder: Path) -> list[str]:
    return [stem for stem in IDX_STEMS.values() if _idx_file(folder, stem) is None]


def _source_at(where: Path, via: str, spec: DataSet) -> DataSource:
    """Classify an explicitly given path, or explain why it holds no copy of the data set."""
    if not where.exists():
        raise DataError(f"The {spec.title} path {where} (from {via}) does not exist. {spec.how_to_point()}")
    if where.is_file():
        if where.suffix == ".npz":
            return DataSource("npz", where, spec.name)
        raise DataError(
            f"The {spec.title} path {where} (from {via}) is a file but not an .npz archive. {spec.how_to_point()}"
        )
    missing = _missing_idx(where)
    if not missing:
        return DataSource("idx", where, spec.name)
    if spec.npz_name and (where / spec.npz_name).is_file():
        return DataSource("npz", where / spec.npz_name, spec.name)
    archive = f" nor {spec.npz_name}" if spec.npz_name else ""
    raise DataError(
        f"The {spec.title} folder {where} (from {via}) has neither all four IDX files{archive}: missing "
        f"{', '.join(missing)} (expected as .gz or uncompressed){f' and {spec.npz_name}' if spec.npz_name else ''}. "
        f"{spec.how_to_point()}"
    )


def locate_data(path: str | None, name: str = "mnist") -> DataSource:
    """Pick the data set's source without decoding: `path`, then its environment variable ($RNN_SWEEP_DATA for
    MNIST, $RNN_SWEEP_FASHION_DATA for Fashion-MNIST), then its system folder, then Keras' cache, else a
    download. An empty string counts as unset."""
    spec = DATA_SETS[name]
    if path:
        return _source_at(Path(path).expanduser().resolve(), "data.path", spec)
    if env := os.environ.get(spec.env_var):
        return _source_at(Path(env).expanduser().resolve(), spec.env_var, spec)
    for folder in map(Path, spec.system_folders):
        if folder.is_dir() and not _missing_idx(folder):
            return DataSource("idx", folder, spec.name)
    cache = _keras_cache(spec)
    if cache.is_file() or (cache.is_dir() and not _missing_idx(cache)):
        return DataSource("keras-cache", cache, spec.name)
    return DataSource("download", None, spec.name)


def _read_idx(file: Path, magic: int) -> np.ndarray:
    """Decode one IDX file, gzipped or not (told apart by content, not name)."""
    try:
        raw = file.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"Cannot read the data file {file} ({exc}); it is missing, damaged or "
            "truncated. Replace it with a fresh copy."
        ) from exc
    return _decode_idx(raw, magic, file)


def _decode_idx(raw: bytes, magic: int, file: Path | str) -> np.ndarray:
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise DataError(f"The data file {file} is truncated: it ends inside its header.")
    found, *dims = struct.unpack(f">{1 + ndim}I", raw[:header])
    if found != magic:
        kind = "image" if magic == IMAGE_MAGIC else "label"
        raise DataError(
            f"The data file {file} is not an IDX {kind} file: its magic number is {found}, expected {magic}."
        )
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataError(
            f"The data file {file} is truncated or padded: its header promises "
            f"{expected} bytes of data (shape {tuple(dims)}), it holds {len(raw) - header}."
        )
    # Copy so callers get writable arrays, as from keras.datasets.
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims).copy()


def _read_npz(file: Path) -> tuple[Arrays, dict[str, str]]:
    """Read the four arrays from an archive laid out like Keras' mnist.npz."""
    try:
        npz = np.load(file, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise DataError(f"The data file {file} is a .npy array, not an .npz archive.")
        with npz:
            found = sorted(npz.files)
            arrays = {key: npz[key] for key in KEYS if key in found}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(
            f"Cannot read the archive {file} ({exc}); it is damaged or not an "
            ".npz file. Replace it with a fresh copy."
        ) from exc
    if len(arrays) < len(KEYS):
        raise DataError(
            f"The archive {file} holds the arrays {found or 'none'}, but "
            f"{', '.join(KEYS)} are expected."
        )
    return arrays, {key: f"{file} (array {key})" for key in KEYS}


def _fetch(url: str, spec: DataSet, cache: Path) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            return response.read()
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections, a malformed proxy URL
        places = "".join(f", nothing in {folder}" for folder in spec.system_folders)
        raise DataError(
            f"{spec.title} was not found and could not be downloaded: data.path is not set, {spec.env_var} is not "
            f"set{places}, there is no Keras cache at {cache}, and downloading {url} failed "
            f"({getattr(exc, 'reason', exc)}). {spec.how_to_point()}"
        ) from None


def download_data(name: str = "mnist") -> Path:
    """Fetch Keras' own copy of the data set into the Keras cache (the last resort), checked before it is saved:
    MNIST's .npz against Keras' SHA-256, Fashion-MNIST's four .gz files by their decoded contents.

    Preflight calls this before any job starts, so a machine without network gets one clear error
    before anything trains, and a sweep downloads once rather than once per job.
    """
    spec = DATA_SETS[name]
    cache = _keras_cache(spec)
    if spec.npz_name:
        payload = _fetch(spec.download_url, spec, cache)
        digest = hashlib.sha256(payload).hexdigest()
        if digest != spec.download_sha256:
            raise DataError(
                f"The download from {spec.download_url} is not Keras' {spec.npz_name} (SHA-256 {digest}, expected "
                f"{spec.download_sha256}); nothing was saved. Try again later. {spec.how_to_point()}"
            )
        atomic.write_bytes(cache, payload)
        return cache
    payloads = {}
    for key, stem in IDX_STEMS.items():
        url = f"{spec.download_url}{stem}.gz"
        payloads[key] = _fetch(url, spec, cache)
        try:
            array = _decode_idx(gzip.decompress(payloads[key]), IMAGE_MAGIC if key[0] == "x" else LABEL_MAGIC, url)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"The download from {url} is not a gzip file ({exc}); nothing was saved. "
                            f"Try again later. {spec.how_to_point()}") from None
        _verify({key: array}, {key: url}, spec, hint="Nothing was saved; try again later.")
    for key, stem in IDX_STEMS.items():
        atomic.write_bytes(cache / f"{stem}.gz", payloads[key])
    return cache


def _read(source: DataSource) -> tuple[Arrays, dict[str, str]]:
    """The raw arrays of `source`, each with the file it came from (for messages)."""
    location = download_data(source.data_set) if source.kind == "download" else source.location
    if location.is_file():
        return _read_npz(location)
    arrays, origins = {}, {}
    for key, stem in IDX_STEMS.items():
        file = _idx_file(location, stem) or location / f"{stem}.gz"
        magic = IMAGE_MAGIC if key.startswith("x") else LABEL_MAGIC
        arrays[key], origins[key] = _read_idx(file, magic), str(file)
    return arrays, origins


def _check(arrays: Arrays, origins: dict[str, str], spec: DataSet) -> None:
    """Shape, dtype and label range checks that also apply to custom data."""
    for split, n in SIZES.items():
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.shape != (n, 28, 28):
            raise DataError(
                f"{origins[f'x_{split}']} holds {x.dtype} images of shape {x.shape}; "
                f"{spec.title} {split} images must be uint8 of shape ({n}, 28, 28)."
            )
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (n,):
            raise DataError(
                f"{origins[f'y_{split}']} holds {y.dtype} labels of shape {y.shape}; "
                f"expected {n} integer labels, one per image."
            )
        bad = y[(y < 0) | (y > 9)]
        if bad.size:
            raise DataError(f"{origins[f'y_{split}']} holds the label {bad[0]}; {spec.title} labels must be 0..9.")
        arrays[f"y_{split}"] = y.astype(np.uint8)


def _verify(arrays: Arrays, origins: dict[str, str], spec: DataSet, hint: str | None = None) -> None:
    """Catch corrupt or modified copies that still decode cleanly (and a copy of the other data set)."""
    for key, array in arrays.items():
        want = spec.content_sha256[key]
        digest = hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()
        if digest != want:
            others = [other.title for other in DATA_SETS.values() if other.content_sha256[key] == digest]
            what = f"it is {others[0]}'s {key}" if others else "the file is corrupt or modified"
            raise DataError(
                f"{origins[key]} is not the canonical {spec.title} {key}: its content SHA-256 is "
                f"{digest}, expected {want}, so {what}. "
                + (hint or "Replace it with a fresh copy, or set data.verify=false to skip this check for custom data.")
            )


def load_data(source: DataSource, verify: bool = True) -> tuple[Pair, Pair]:
    """((x_train, y_train), (x_test, y_test)) as uint8, like keras.datasets.<name>.load_data(), read-only.

    Every problem becomes a DataError naming the file, so users never see a traceback. Kept for the life of the
    process while its files stay the same (inode, size, mtime): the jobs of a sweep that share a process decode and
    check the data once, not a second or more each."""
    stamp = _files_stamp(source)
    if stamp is None:  # a download, or a file gone: read it the long way, where any problem is told
        return _load(source, verify)
    return _load_kept(source, verify, stamp)


def _files_stamp(source: DataSource) -> tuple[tuple[int, ...], ...] | None:
    """What tells a changed copy of the data from the one read before; None where there is nothing to stat."""
    if source.location is None:
        return None
    files = [source.location] if source.location.is_file() else \
        [_idx_file(source.location, stem) for stem in IDX_STEMS.values()]
    try:
        infos = [found.stat() for found in files]
    except (AttributeError, OSError):  # an IDX file missing (None) or unreadable
        return None
    return tuple((info.st_ino, info.st_size, info.st_mtime_ns) for info in infos)


@lru_cache(maxsize=2)  # MNIST and Fashion-MNIST, about 55 MB each
def _load_kept(source: DataSource, verify: bool, stamp: tuple[tuple[int, ...], ...]) -> tuple[Pair, Pair]:
    return _load(source, verify)


def _load(source: DataSource, verify: bool) -> tuple[Pair, Pair]:
    arrays, origins = _read(source)
    _check(arrays, origins, source.spec)
    if verify:
        _verify(arrays, origins, source.spec)
    for array in arrays.values():
        array.flags.writeable = False  # shared by every job of the process: none may change it for the next
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


def held_out(images: int, validation_split: float) -> int:
    """How many of a training set's `images` the validation set takes: the floor of its share."""
    return int(images * validation_split)


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
    two never overlap. Used whole (no limit, nothing held out) it keeps the
    files' order, which step-based training walks as the tutorials did. The
    test set keeps its order unless limited (then it is a balanced subset
    drawn with seed + 1)."""
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    (x, y), (x_test, y_test) = train, test
    if limit_train is None and validation_split == 0:
        picked = np.arange(len(y))
    else:
        picked = balanced_subset(y, len(y) if limit_train is None else limit_train, seed)
    n_val = held_out(len(picked), validation_split)
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
