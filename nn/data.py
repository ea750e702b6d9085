"""Data for training: MNIST (IDX files or Nielsen's ``mnist.pkl.gz``), the 8×8 digits, 2-D toys.

Every loader returns a ``Splits(training, validation, test)``; each split is a pair
``(X, labels)``: ``X`` of shape (examples, features), floats (pixels in [0, 1]), and
``labels`` an integer array of shape (examples,). A split may be empty (0 rows).

How each source is split:

- ``mnist.pkl.gz`` (Nielsen's file): his 50,000 / 10,000 / 10,000.
- IDX files, all four: the first 50,000 training images to train, the last 10,000 of
  them to validate (Nielsen's split of the same images), the 10,000 test images to test.
- IDX files, the test set only (as in ``../shared/data/mnist``): its first 8,000 images
  to train, no validation, its last 2,000 to test.
- ``load_digits()``: scikit-learn's 1,797 8×8 digits, the first 1,500 to train, the rest
  (297) to test, pixels divided by 16 (``shuffle=seed``: shuffled first).
- ``moons`` and ``spirals``: generated from a seed, 80% to train, 20% to test.

``minibatches(X, Y, batch_size, rng)`` shuffles with ``rng`` and yields mini-batches,
the last one partial.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import urllib.request
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The MNIST test set beside the project, for tests and CI (../shared/data/README.md).
SHARED_MNIST = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "mnist"))
# Where download=True puts the files unless told otherwise.
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "nn", "mnist")
# PyTorch's mirror of Yann LeCun's files (the original site refuses scripts).
DEFAULT_BASE_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
# The published sizes and checksums: md5 for all four, sha256 where ../shared/data/README.md gives
# it. The size tells a download cut short from a corrupted one.
CHECKSUMS = {
    TRAIN_IMAGES: {"size": 9912422, "md5": "f68b3c2dcbeaaa9fbdd348bbdeb94873"},
    TRAIN_LABELS: {"size": 28881, "md5": "d53e105ee54ea40749a09fcbcd1e9432"},
    TEST_IMAGES: {"size": 1648877, "md5": "9fb629c4189551a2d022fa330f9573f3",
                  "sha256": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
    TEST_LABELS: {"size": 4542, "md5": "ec29112dd5afa0611ce80d1b7f02629c",
                  "sha256": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
}
HOW_TO_GET_MNIST = (
    "Get MNIST with load_mnist(download=True) (or `python -m nn train --dataset mnist --download`), "
    "or pass the folder holding the IDX files (or Nielsen's mnist.pkl.gz)."
)


class DataError(ValueError):
    """A data file that is missing, truncated, corrupt, or not what its checksum says."""


class Splits(NamedTuple):
    """Training, validation and test data, each a pair (X of shape (n, features), labels (n,))."""

    training: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]


def _empty_like(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, x.shape[1])), np.zeros(0, dtype=np.int64)


# --------------------------------------------------------------------------- IDX files


def _read_bytes(path: str) -> bytes:
    """The file's bytes, gunzipped when it starts with gzip's magic 1f 8b."""
    with open(path, "rb") as file:
        raw = file.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, gzip.BadGzipFile) as error:
        published = CHECKSUMS.get(os.path.basename(path), {}).get("size")
        sizes = f"{len(raw)} bytes" + (f", the published file {published}" if published else "")
        raise DataError(f"{path}: not a complete gzip file ({sizes}; {error}): it is truncated or "
                        "corrupt. Delete it and get it again.") from None


def read_idx(path: str, magic: int) -> np.ndarray:
    """An IDX file, gzipped or not: a big-endian header (magic, one int32 per dimension), then uint8 data."""
    raw = _read_bytes(path)
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        raise DataError(f"{path}: IDX magic number {found}, expected {magic}: this is not the MNIST "
                        "file the name says. Check the path, or replace the file with the published one.")
    ndim = magic & 0xFF
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataError(f"{path}: the IDX header needs {offset} bytes, the file holds {len(raw)}: it is "
                        "truncated. Replace it with the published file.")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise DataError(
            f"{path}: the header promises {expected} bytes of data for shape {tuple(dims)}, the "
            f"file holds {len(raw) - offset}: it is truncated or corrupt. Replace it with the "
            "published file (see ../shared/data/README.md for the checksums)."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _find(folder: str, name: str) -> str | None:
    """``name`` (ending .gz) in ``folder``, or the same file stored gunzipped."""
    for candidate in (name, name.removesuffix(".gz")):
        if os.path.exists(os.path.join(folder, candidate)):
            return os.path.join(folder, candidate)
    return None


def _idx_pair(images: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images, 2051)
    y = read_idx(labels, 2049)
    if len(x) != len(y):
        raise DataError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels.")
    return x.reshape(len(x), -1).astype(np.float64) / 255.0, y.astype(np.int64)


def _load_idx_folder(folder: str) -> Splits:
    test = [_find(folder, TEST_IMAGES), _find(folder, TEST_LABELS)]
    train = [_find(folder, TRAIN_IMAGES), _find(folder, TRAIN_LABELS)]
    if None in test:
        raise DataError(f"{folder}: no MNIST test files ({TEST_IMAGES}, {TEST_LABELS}). {HOW_TO_GET_MNIST}")
    x_test, y_test = _idx_pair(*test)
    if None in train:  # the test set only: 8,000 to train, the last 2,000 to test
        cut = len(x_test) * 4 // 5
        return Splits((x_test[:cut], y_test[:cut]), _empty_like(x_test), (x_test[cut:], y_test[cut:]))
    x, y = _idx_pair(*train)
    cut = len(x) * 5 // 6  # 50,000 of 60,000, Nielsen's split
    return Splits((x[:cut], y[:cut]), (x[cut:], y[cut:]), (x_test, y_test))


# --------------------------------------------------------------------------- Nielsen's pickle


def _plain_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """What the pickle gets for ``numpy.dtype``: numpy's own builtin numeric dtypes only.

    A pickle can otherwise build a copied dtype and rewrite it through ``__setstate__``
    into one that holds object pointers without saying so, and an array of it then points
    wherever the file says (memory corruption). Builtin descriptors are shared singletons
    whose state numpy never rewrites, and object, structured and void dtypes are refused.
    """
    dtype = np.dtype(spec)
    if dtype.kind not in "biuf" or dtype.names is not None or dtype.subdtype is not None:
        raise pickle.UnpicklingError(f"refused dtype {spec!r}: only plain numeric arrays are accepted")
    return np.dtype(dtype.str)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain numeric numpy arrays and tuples of them: a pickle that names any other
    class or function, or an array of any other dtype, is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("_codecs", "encode"),  # how Python 3's protocol 2 writes bytes; a pure function
    }

    def find_class(self, module: str, name: str):
        if (module, name) == ("numpy", "dtype"):
            return _plain_dtype
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: only numpy arrays and tuples "
                                         "are accepted")
        return super().find_class(module, name)


def load_pickle(path: str) -> Splits:
    """Nielsen's ``mnist.pkl.gz`` (or the same pickle unzipped): his training, validation and test data."""
    raw = _read_bytes(path)
    try:
        data = _ArraysOnly(io.BytesIO(raw), encoding="latin1").load()
    except pickle.UnpicklingError as error:
        if str(error).startswith("refused"):
            raise DataError(f"{path}: {error}.") from None
        raise DataError(f"{path}: not a complete pickle ({len(raw)} bytes, {error}): it is truncated or "
                        "corrupt. Delete it and get it again.") from None
    except (EOFError, ValueError, TypeError) as error:
        raise DataError(f"{path}: not a complete pickle ({len(raw)} bytes, {error}): it is truncated or "
                        "corrupt. Delete it and get it again.") from None
    pairs = isinstance(data, tuple) and len(data) == 3 and all(
        isinstance(s, tuple) and len(s) == 2 and all(isinstance(a, np.ndarray) for a in s) for s in data)
    if not pairs:
        raise DataError(f"{path}: expected three (images, labels) pairs of arrays, as in mnist.pkl.gz.")
    splits = []
    for images, labels in data:
        if images.dtype.kind not in "biuf" or labels.dtype.kind not in "biuf":
            raise DataError(f"{path}: arrays of dtype {images.dtype} and {labels.dtype}; numbers expected.")
        if images.ndim != 2 or len(images) != len(labels):
            raise DataError(f"{path}: images of shape {images.shape} with {len(labels)} labels.")
        splits.append((images.astype(np.float64), labels.astype(np.int64)))
    return Splits(*splits)


# --------------------------------------------------------------------------- downloading


def _digests(path: str) -> dict[str, str]:
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            md5.update(block)
            sha256.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def _mismatch(path: str, expected: dict[str, Any]) -> str | None:
    """A description of the first checksum of ``path`` that differs from ``expected``, or None.
    ``expected`` maps "md5" or "sha256" to a hex digest; a "size" entry is not a checksum."""
    found = _digests(path)
    for kind, digest in expected.items():
        if kind != "size" and found[kind] != digest:
            return f"{kind} {found[kind]}, expected {digest}"
    return None


def _wrong_size(path: str, url: str, expected: int | None) -> str | None:
    """Why the download of ``url`` into ``path`` does not hold ``expected`` bytes, or None."""
    size = os.path.getsize(path)
    if expected is None or size == expected:
        return None
    what = "it is truncated (or not the published file)" if size < expected else "not the published file"
    return f"{url}: the download holds {size} bytes, expected {expected}: {what}"


def download_mnist(cache_dir: str | None = None, base_url: str = DEFAULT_BASE_URL,
                   checksums: dict[str, dict[str, Any]] | None = None, timeout: float = 60.0) -> str:
    """Fetch the files of ``checksums`` (the four MNIST files) from ``base_url`` into ``cache_dir``.

    ``checksums`` maps each file name to its "md5" and/or "sha256" digest and optionally its "size"
    in bytes. A file already there with the right checksums is kept. Each download is checked
    before it is moved into place: first its length (the "size", else the server's Content-Length),
    so that a download cut short is reported as truncated, then its checksums. A file that does
    not match is deleted and raises ``DataError``. Returns the folder.
    """
    folder = cache_dir or DEFAULT_CACHE
    os.makedirs(folder, exist_ok=True)
    for name, expected in (CHECKSUMS if checksums is None else checksums).items():
        path = os.path.join(folder, name)
        if os.path.exists(path):
            if _mismatch(path, expected) is None:
                continue
            os.remove(path)  # a stale or damaged copy: fetch it again
        url = base_url.rstrip("/") + "/" + name
        partial = path + ".part"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as file:
                announced = response.headers.get("Content-Length")
                while block := response.read(1 << 20):
                    file.write(block)
        except OSError as error:
            if os.path.exists(partial):
                os.remove(partial)
            raise DataError(f"could not download {url}: {error}") from None
        # http.client ends a body cut short silently, so the length is checked here.
        size = expected.get("size", int(announced) if announced and announced.isdigit() else None)
        wrong = _wrong_size(partial, url, size)
        if wrong is not None:
            os.remove(partial)
            raise DataError(f"{wrong}; it was deleted. Try again, or check base_url.")
        wrong = _mismatch(partial, expected)
        if wrong is not None:
            os.remove(partial)
            raise DataError(f"{url}: checksum mismatch ({wrong}); the download was deleted. Check base_url.")
        os.replace(partial, path)
    return folder


def load_mnist(path: str | None = None, download: bool = False, cache_dir: str | None = None,
               base_url: str = DEFAULT_BASE_URL,
               checksums: dict[str, dict[str, Any]] | None = None) -> Splits:
    """MNIST as ``Splits`` (see the module's docstring for how each source is split).

    ``path``: a folder of IDX files, or Nielsen's ``mnist.pkl.gz``; by default ``cache_dir`` (default
    ``~/.cache/nn/mnist``). With ``download=True`` the four IDX files are fetched first, into
    ``path`` when it is given (a folder) and into ``cache_dir`` otherwise, from ``base_url``, and
    checked against their published checksums (``checksums`` overrides them).
    """
    if download:
        # Into the folder given as path when there is one (then read from there), else the cache.
        path = download_mnist(path or cache_dir, base_url, checksums)
    path = path or cache_dir or DEFAULT_CACHE
    if os.path.isdir(path):
        pickled = _find(path, "mnist.pkl.gz")
        if pickled and _find(path, TEST_IMAGES) is None:
            return load_pickle(pickled)
        return _load_idx_folder(path)
    if os.path.isfile(path):
        with open(path, "rb") as file:
            start = file.read(4)
        if start[:2] == b"\x1f\x8b" and "idx" in os.path.basename(path) or start[:2] == b"\x00\x00":
            # An IDX file (gzipped or not), not a pickle: the folder holding the four is wanted.
            raise DataError(f"{path} is one IDX file; pass the folder that holds the MNIST files "
                            f"({os.path.dirname(path) or '.'}).")
        return load_pickle(path)
    raise DataError(f"no MNIST data at {path}. {HOW_TO_GET_MNIST}")


def describe_test_split(dataset: str, splits: Splits) -> str:
    """Which examples ``splits.test`` holds, in words, for data loaded as ``dataset`` (digits, mnist,
    moons, spirals) by the rules of this module's docstring."""
    tested, trained = len(splits.test[0]), len(splits.training[0])
    if dataset == "mnist" and len(splits.validation[0]) == 0:
        return (f"the last {tested:,} images of the MNIST test set "
                f"(its first {trained:,} are the training data)")
    if dataset == "mnist":
        return f"the {tested:,} images of the MNIST test set"
    if dataset == "digits":
        return f"the last {tested:,} of the {tested + trained:,} 8x8 digits"
    return f"the last {tested:,} of the {tested + trained:,} generated points"


# --------------------------------------------------------------------------- small datasets


def load_digits(shuffle: int | None = None) -> Splits:
    """scikit-learn's 1,797 8×8 digits (64 pixels in [0, 1]): the first 1,500 to train, the rest to test.

    The last 297 images are harder than the others for every classifier (the README gives the
    numbers); ``shuffle=seed`` permutes the images with that seed before splitting, so that the
    test images are drawn like the training ones.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits  # optional: the `digits` extra
    except ImportError:
        raise ImportError('the embedded digits come with scikit-learn: pip install "autograd-core[digits]" '
                          "(or scikit-learn)") from None
    digits = sklearn_digits()
    x, y = digits.data.astype(np.float64) / 16.0, digits.target.astype(np.int64)
    if shuffle is not None:
        order = np.random.default_rng(shuffle).permutation(len(x))
        x, y = x[order], y[order]
    return Splits((x[:1500], y[:1500]), _empty_like(x), (x[1500:], y[1500:]))


def _split(x: np.ndarray, y: np.ndarray) -> Splits:
    cut = len(x) * 4 // 5
    return Splits((x[:cut], y[:cut]), _empty_like(x), (x[cut:], y[cut:]))


def moons(n: int = 500, noise: float = 0.1, seed: int = 0) -> Splits:
    """Two interleaved half-circles in 2-D, labels 0 and 1, with Gaussian noise; shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    angle = rng.uniform(0, np.pi, n)
    x = np.where(labels[:, None] == 0,
                 np.stack([np.cos(angle), np.sin(angle)], axis=1),
                 np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=1))
    return _split(x + noise * rng.standard_normal((n, 2)), labels.astype(np.int64))


def spirals(n: int = 600, classes: int = 3, noise: float = 0.2, seed: int = 0) -> Splits:
    """``classes`` interleaved spiral arms in 2-D (cs231n's toy data); shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    radius = rng.uniform(0, 1, n)
    angle = labels * 2 * np.pi / classes + 4 * radius + noise * rng.standard_normal(n)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return _split(x, labels.astype(np.int64))


def minibatches(X: np.ndarray, Y: np.ndarray, batch_size: int,
                rng: np.random.Generator | int | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(X[rows], Y[rows]) for consecutive slices of a permutation drawn from ``rng`` (a Generator or
    a seed; None keeps the order). Every row appears once; the last batch holds what is left."""
    if batch_size <= 0:
        raise ValueError(f"minibatches: batch_size must be positive, got {batch_size}.")
    if len(X) != len(Y):
        raise ValueError(f"minibatches: X has {len(X)} rows but Y has {len(Y)}.")
    order = np.arange(len(X)) if rng is None else np.random.default_rng(rng).permutation(len(X))
    for first in range(0, len(X), batch_size):
        rows = order[first:first + batch_size]
        yield X[rows], Y[rows]
