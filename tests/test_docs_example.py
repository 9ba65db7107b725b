"""docs/example.py runs as users run it (a subprocess, from load to saved figure), and the HTML
files it writes hold the expected figures: tracks with the ensemble band and the gene's exons,
and a saliency logo whose letters are the genome's bases at the TSS."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo"


def figure_data(html: str) -> tuple[list, dict]:
    """(traces, layout) of the one figure in an HTML file written by plotly's ``write_html``."""
    i = html.index("Plotly.newPlot(")
    dec = json.JSONDecoder()
    rest = html[i + len("Plotly.newPlot("):]
    _, n = dec.raw_decode(rest.lstrip())                  # the div id
    rest = rest.lstrip()[n:].lstrip().lstrip(",").lstrip()
    data, n = dec.raw_decode(rest)
    layout, _ = dec.raw_decode(rest[n:].lstrip().lstrip(",").lstrip())
    return data, layout


def values(a) -> np.ndarray:
    if isinstance(a, dict) and "bdata" in a:
        return np.frombuffer(base64.b64decode(a["bdata"]), dtype=np.dtype(a["dtype"]))
    return np.asarray([np.nan if v is None else v for v in a], np.float64)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("example")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, str(REPO / "docs" / "example.py"), "--out", str(out)], cwd=str(REPO),
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_tracks_html_has_the_band_the_targets_and_the_gene(written):
    from seqnn_engine.genomics.genes import GeneSet
    data, layout = figure_data((written / "tracks.html").read_text())
    by = {t["name"]: t for t in data}
    for name in ("ATAC", "CAGE+", "CAGE-"):
        mean, up, lo = values(by[name]["y"]), values(by[f"{name} +1 sd"]["y"]), values(by[f"{name} -1 sd"]["y"])
        assert np.isfinite(mean).all() and len(mean) == len(up) == len(lo) > 1
        assert np.all(up >= mean) and np.all(lo <= mean) and np.any(up > mean)   # 4 members: a real band
        x = values(by[name]["x"])
        assert np.allclose(np.diff(x), x[1] - x[0])                              # evenly spaced bin centres
    gene = GeneSet.read(DEMO / "genes.gtf").get("DMG129")
    ex = values(by["exons"]["x"])
    inside = [(s, e) for s, e in gene.exons if x[0] < s and e < x[-1]]
    assert inside
    for s, e in inside:                                # every exon of the gene in view is drawn as a box
        assert s in ex and e in ex
    assert any("DMG129" in t for t in by["gene names"]["text"])
    assert "4 ensemble members" in layout["title"]["text"]


def test_logo_html_letters_are_the_bases_of_the_window(written):
    from seqnn_engine.genomics.genes import GeneSet
    from seqnn_engine.genomics.genome import Genome
    data, layout = figure_data((written / "logo.html").read_text())
    lo, hi = layout["xaxis"]["range"]
    start, end = int(round(lo + 0.6)), int(round(hi + 0.4))
    assert end - start == 100
    gene = GeneSet.read(DEMO / "genes.gtf").get("DMG129")
    with Genome(DEMO / "genome.fa.gz") as g:
        bases = g.fetch(gene.chrom, start, end).sequence
    drawn = {}
    for tr in data:
        xs = values(tr["x"])
        centres = np.unique(np.round(xs[np.isfinite(xs)]).astype(int))
        for c in centres:
            drawn.setdefault(int(c), []).append(tr["name"])
    # saliency x one-hot: at most one letter per position, and it is the genome's base there
    assert len(drawn) > 50
    for pos, letters in drawn.items():
        assert letters == [bases[pos - start]], (pos, letters)
