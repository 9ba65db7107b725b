"""Gene objectives (exon and TSS bins of strand-matched targets), gene-body windows and coverage.

Truth: the bins of each exon computed here from the GTF coordinates and the model geometry, the
strand pairs of the demo's targets.txt (CAGE+ at 6 pairs with CAGE- at 7), and hand-made genes.
The CLI (``attribute --objective exons``), the session and the dashboard (AppTest) must give the
same arrays for the same gene.
"""
from __future__ import annotations

import numpy as np
import pytest

from test_app_support import REPO, dashboard_env

from seqnn_engine.analysis.gene_predict import gene_objective, strand_matched_targets
from seqnn_engine.errors import InputError
from seqnn_engine.genomics.genes import Gene, Transcript, gene_window, output_coverage
from seqnn_engine.genomics.windows import gene_centre

MAIN = str(REPO / "app" / "main.py")


def _gene(strand="+", start=10_000, end=30_000, exons=((10_000, 10_500), (20_000, 20_300), (29_000, 30_000))):
    t = Transcript("T1", "chr1", start, end, strand, tuple(exons), ())
    return Gene("G1", "GENE1", "chr1", start, end, strand, (t,))


class _Cat:
    """A catalog of 4 targets: 0 unstranded, 1 '+' paired with 2 '-', 3 unstranded."""
    strand = np.array([".", "+", "-", "."])
    partner = np.array([0, 2, 1, 3])


def test_strand_matched_targets():
    assert strand_matched_targets(_Cat, [0, 1], "+") == [0, 1]
    assert strand_matched_targets(_Cat, [0, 1], "-") == [0, 2]
    assert strand_matched_targets(_Cat, [2, 3], "+") == [1, 3]
    assert strand_matched_targets(_Cat, [1, 2], "-") == [2]


def test_exon_and_tss_objectives_by_hand():
    g = _gene()
    L, stride, crop = 40_960, 32, 64
    w = gene_window(g, L, stride, crop, center=gene_centre(g, "body"))
    assert w.start == (10_000 + 30_000) // 2 - L // 2
    bins, tsel = gene_objective(w, "exons", [1], _Cat)
    want = sorted({b for s, e in g.exons for b in range((s - w.start) // stride - crop, (e - 1 - w.start) // stride - crop + 1)})
    assert bins.tolist() == want and tsel == [1]
    bins_t, tsel_t = gene_objective(w, "tss", [2], _Cat)
    assert bins_t.tolist() == [(10_000 - w.start) // stride - crop] and tsel_t == [1]
    with pytest.raises(InputError, match="exons, tss"):
        gene_objective(w, "body", [1], _Cat)


def test_coverage_of_a_gene_longer_than_the_output():
    g = _gene(start=0, end=100_000, exons=((0, 1_000), (50_000, 51_000), (99_000, 100_000)))
    L, stride, crop = 32_768, 32, 0
    w = gene_window(g, L, stride, crop, center=gene_centre(g, "body"))   # output [33616, 66384)
    body, exons = output_coverage(g, w)
    assert body == pytest.approx(32_768 / 100_000)
    assert exons == pytest.approx(1_000 / 3_000)
    with pytest.raises(InputError, match="'tss' or 'body'"):
        gene_centre(g, "middle")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with dashboard_env(tmp_path_factory) as e:
        yield e


def test_cli_session_and_dashboard_give_the_same_exon_objective(env, tmp_path):
    from seqnn_engine.cli import main
    from seqnn_engine.io.export import read_hdf5
    from seqnn_engine.session import Request, Session

    md = env["model_dir"]
    ses = Session(md)
    gene = ses.genes.get("DEMOG00135")
    inp = ses.gene_input(gene, "body")
    bins, tsel = ses.gene_objective(inp, "exons", [0, 7])
    want_t = (0, 6) if gene.strand == "+" else (0, 7)
    assert tsel == want_t
    assert set(bins) == set(int(b) for b in inp.exon_bins) and len(bins) > 0
    s_attr = ses.attribute(Request(inp.sequence, targets=tsel, positions=bins, method="saliency"))

    out = tmp_path / "exons.h5"
    assert main([str(a) for a in ["attribute", "--model", md, "--genes", "DEMOG00135", "--gtf", md / "genes.gtf",
                                  "--objective", "exons", "--gene-centre", "body", "--targets", "0,7",
                                  "--method", "saliency", "--float32", "--quiet", "--out", out]]) == 0
    c = read_hdf5(out)
    assert c["start"][0] == inp.start
    np.testing.assert_array_equal(c["scores"][0], s_attr["scores"])
    np.testing.assert_array_equal(c["objective"][0], s_attr["objective"])

    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(MAIN, default_timeout=300)
    at.session_state["model_path"] = str(md)
    at.session_state["gene"] = "DEMOG00135"
    at.session_state["gene_centre"] = "body"
    at.session_state["targets"] = [0, 7]
    at.session_state["attr_objective"] = "exons"
    at.session_state["attr_method"] = "saliency"
    at.run()
    assert not at.exception, at.exception
    d = read_hdf5(at.session_state["downloads"]["attribution"]["hdf5"].make())
    np.testing.assert_array_equal(d["scores"], s_attr["scores"])
    np.testing.assert_array_equal(d["objective"], s_attr["objective"])


def test_cli_gene_objective_needs_genes(env, tmp_path):
    from seqnn_engine.cli import main
    fa = tmp_path / "a.fa"
    fa.write_text(">a\n" + "ACGT" * 1024 + "\n")
    assert main(["attribute", "--model", str(env["model_dir"]), "--fasta", str(fa), "--objective", "exons",
                 "--out", str(tmp_path / "x.h5"), "--quiet"]) == 2
