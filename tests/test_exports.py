"""What users of peer tools expect: napwidget.NapWidget at the package root with a light import, a per-NAP
DataFrame and a notebook HTML view of NAPs, KeplerMapper's graph format, and progress bars on long runs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import DBSCAN

import napwidget
from napwidget import NapInputError, find_naps, mapper_graph

from synthetic import make_blobs, small_blobs

km = pytest.importorskip("kmapper")


@pytest.fixture(scope="module")
def naps():
    X, y = small_blobs()
    return find_naps(X, min_cluster_size=10, labels=y, class_names=["<b>zero</b>", "one", "two", "three"])


# --------------------------------------------------------------------------------------- package root
def test_napwidget_at_the_root_and_the_import_stays_light():
    from napwidget.widget import NapWidget

    assert napwidget.NapWidget is NapWidget
    assert "NapWidget" in napwidget.__all__ and "NapWidget" in dir(napwidget)
    code = (
        "import sys, napwidget; heavy = [m for m in ('torch', 'scipy', 'altair', 'anywidget', 'hdbscan') "
        "if m in sys.modules]; print(heavy); napwidget.find_naps; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.split("\n")[:2] == ["[]", "True"]  # nothing heavy until a name needs it
    with pytest.raises(AttributeError, match="has no attribute 'NapWidgets'"):
        napwidget.NapWidgets  # noqa: B018


# ------------------------------------------------------------------------------------ NAPs as tables
def test_summary_as_frame_and_to_pandas_per_nap(naps):
    frame = naps.summary(as_frame=True)
    assert isinstance(frame, pd.DataFrame) and frame.index.name == "nap"
    assert list(frame.columns) == ["size", "persistence", "purity", "dominant"]
    assert frame["size"].tolist() == naps.sizes.tolist() and len(frame) == naps.n_naps
    assert (np.diff(frame["persistence"].to_numpy()) <= 0).all()  # NAP 0 is the most persistent
    assert frame.equals(naps.to_pandas(per="nap"))
    assert naps.summary() == frame.reset_index().to_dict("records")  # the same rows either way
    assert naps.to_pandas().index.name == "input"  # per input stays the default


def test_to_pandas_with_an_unknown_per(naps):
    with pytest.raises(NapInputError, match=r"unknown per='cluster'.*per='input'.*per='nap'"):
        naps.to_pandas(per="cluster")


def test_repr_html_summarises_and_escapes(naps):
    html = naps._repr_html_()
    assert f"<b>{naps.n_naps}</b> NAPs over {naps.n_samples:,} inputs" in html and "exact engine" in html
    assert html.count("<tr>") == min(naps.n_naps, 10) + 1  # header + rows
    assert "<b>zero</b>" not in html and "&lt;b&gt;zero&lt;/b&gt;" in html  # class names are text


def test_repr_html_of_many_naps_points_to_the_full_table():
    X, _ = make_blobs(n_per=30, k=14, dim=24, seed=2)
    many = find_naps(X, min_cluster_size=5)
    assert many.n_naps > 10
    html = many._repr_html_()
    assert html.count("<tr>") == 11 and f"{many.n_naps - 10} more" in html


# ------------------------------------------------------------------------------------- kmapper format
def test_mapper_graph_in_keplermapper_format_equals_kmappers_own():
    X, _ = make_blobs(n_per=60, k=5, dim=32, seed=7)
    g = mapper_graph(X, n_intervals=10, overlap=0.5, eps=1.6, min_samples=3)
    ours = g.to_kmapper()
    lens = km.KeplerMapper(verbose=0).fit_transform(X, projection="l2norm", scaler=None)
    theirs = km.KeplerMapper(verbose=0).map(
        lens, X, clusterer=DBSCAN(eps=1.6, min_samples=3), cover=km.Cover(n_cubes=10, perc_overlap=0.5)
    )
    assert g.n_nodes > 5 and g.n_edges > 3
    assert ours["nodes"] == dict(theirs["nodes"])  # same ids, same members
    assert ours["links"] == dict(theirs["links"])
    assert ours["simplices"] == theirs["simplices"]
    assert ours["meta_data"]["n_cubes"] == 10 and ours["meta_data"]["perc_overlap"] == 0.5


# ------------------------------------------------------------------------------------- progress bars
def test_progress_bars_on_request_and_not_on_quick_or_cached_runs(capfd):
    X, _ = make_blobs(n_per=40, k=4, dim=16, seed=5)
    find_naps(X, progress=True)
    err = capfd.readouterr().err
    assert "NAPs" in err and "100%" in err  # tqdm draws on stderr
    find_naps(X, progress=True)  # the tree is cached now: nothing to show
    find_naps(X * 2)  # a quick run (predicted well under 2 s): no bar by default
    mapper_graph(X, n_intervals=5, eps=1.0, progress=False)
    assert capfd.readouterr().err == ""
    mapper_graph(X, n_intervals=5, eps=1.0, progress=True)
    assert "Mapper" in capfd.readouterr().err
