"""load_naps on files that are not NAPs files: a NapInputError naming the file and what was expected, and
nothing is ever unpickled (one test per kind of bad file)."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest

from napwidget import NapInputError, find_naps, load_naps

from synthetic import small_blobs


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, y = small_blobs()
    naps = find_naps(X, min_cluster_size=10, labels=y)
    return naps, naps.save(tmp_path_factory.mktemp("naps") / "good.npz")


def arrays_of(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_good_file_round_trips(saved):
    naps, path = saved
    again = load_naps(path)
    assert np.array_equal(again.labels, naps.labels) and again.algorithm == naps.algorithm == "exact"


def test_a_pickle_is_refused_without_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("import builtins; builtins.NAPW_PWNED = True",))

    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(NapInputError, match=r"evil\.npz is not a NAPs file: it is not a NumPy \.npz archive"):
        load_naps(path)
    import builtins

    assert not hasattr(builtins, "NAPW_PWNED")


def test_object_arrays_are_refused(saved, tmp_path):
    arrays = arrays_of(saved[1])
    arrays["labels"] = np.array([{"a": 1}] * len(arrays["labels"]), dtype=object)
    path = tmp_path / "objects.npz"
    np.savez(path, **arrays)
    with pytest.raises(NapInputError, match=r"objects\.npz is not a NAPs file: its 'labels' entry holds Pyt"):
        load_naps(path)


def test_a_foreign_npz_lists_what_is_missing(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, W=np.zeros((3, 3)), b=np.zeros(3))
    with pytest.raises(NapInputError, match=r"weights\.npz is not a NAPs file: it lacks meta,.*holds W, b"):
        load_naps(path)


def test_a_truncated_download(saved, tmp_path):
    path = tmp_path / "cut.npz"
    path.write_bytes(saved[1].read_bytes()[:300])
    with pytest.raises(NapInputError, match=r"cut\.npz is not a NAPs file: it cannot be read as a \.npz"):
        load_naps(path)


def test_a_damaged_entry(saved, tmp_path):
    path = tmp_path / "flipped.npz"
    with zipfile.ZipFile(saved[1]) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "features.npy":
                data = data[:-40]  # rows cut off inside the archive
            dst.writestr(info.filename, data)
    with pytest.raises(NapInputError, match=r"flipped\.npz is not a NAPs file: its 'features' entry is dam"):
        load_naps(path)


def test_a_single_npy_array(tmp_path):
    path = tmp_path / "labels.npy"
    np.save(path, np.arange(5))
    with pytest.raises(NapInputError, match=r"labels\.npy is not a NAPs file: it holds a single array"):
        load_naps(path)


def test_rows_that_do_not_match(saved, tmp_path):
    arrays = arrays_of(saved[1])
    arrays["probabilities"] = arrays["probabilities"][:-3]
    path = tmp_path / "short.npz"
    np.savez(path, **arrays)
    with pytest.raises(NapInputError, match=r"'probabilities' has \d+ rows but 'labels' has \d+"):
        load_naps(path)


def test_meta_that_is_not_json(saved, tmp_path):
    arrays = arrays_of(saved[1])
    arrays["meta"] = np.array("{not json")
    path = tmp_path / "meta.npz"
    np.savez(path, **arrays)
    with pytest.raises(NapInputError, match=r"meta\.npz is not a NAPs file: its 'meta' entry is not JSON"):
        load_naps(path)


def test_a_newer_format_version(saved, tmp_path):
    arrays = arrays_of(saved[1])
    arrays["meta"] = np.array(json.dumps({**json.loads(str(arrays["meta"])), "version": 7}))
    path = tmp_path / "future.npz"
    np.savez(path, **arrays)
    with pytest.raises(NapInputError, match=r"format version 7; this napwidget reads version 1"):
        load_naps(path)


def test_a_missing_file_stays_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no NAPs file at"):
        load_naps(tmp_path / "nope.npz")
