"""The variant view at scale with Streamlit's AppTest on the bundled demo model: a VCF upload lists the variants of the window,
choosing one re-centres the session's input on it, the scores are the CLI's numbers for that record,
and the attribution of the score renders.

Truth: the genome read here with pysam-backed Genome, the window start of
``analysis.variants.variant_window`` and the CLI's ``variants`` output for the same VCF.
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from test_app_support import DEFAULT_GENE, DEMO, REPO

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

MAIN = str(REPO / "app" / "main.py")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The bundled demo model (the dashboard's default: no extra model roots) with its genome and genes,
    an empty result store and an empty dashboard config."""
    store = tmp_path_factory.mktemp("store")
    cfg = tmp_path_factory.mktemp("cfg") / "none.toml"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQNN_MODEL_ROOTS", "")
        mp.setenv("SEQNN_STORE_DIR", str(store))
        mp.setenv("SEQNN_DASHBOARD_CONFIG", str(cfg))
        yield {"model_dir": DEMO.resolve(), "store": store}


@pytest.fixture(scope="module")
def window(env):
    """(gene window, genome) of the default gene, read independently of the dashboard."""
    from seqnn_engine import load_model_dir
    from seqnn_engine.genomics.genes import GeneSet, gene_window
    from seqnn_engine.genomics.genome import Genome
    m = load_model_dir(env["model_dir"])
    g = GeneSet.read(DEMO / "genes.gtf").get(DEFAULT_GENE)
    gw = gene_window(g, m.seq_length, m.stride, m.crop)
    return gw, Genome(DEMO / "genome.fa.gz"), m.seq_length


def _other(b: str) -> str:
    return "A" if b != "A" else "C"


@pytest.fixture(scope="module")
def vcf(window, tmp_path_factory):
    """A VCF with three scorable variants in the window (one flipped, one failing FILTER), an indel in
    the window, one variant outside it and one on another chromosome. Returns (path, in-window ids,
    {id: (pos 1-based, ref, alt)})."""
    gw, genome, L = window
    base = lambda p: genome.fetch(gw.chrom, p - 1, p).sequence  # noqa: E731 - 1-based position
    p1, p2, p3, p_indel = gw.start + 1001, gw.start + 2049, gw.start + 3001, gw.start + 1500
    p_out = gw.end + 5000
    rows = [(gw.chrom, p1, "snv1", base(p1), _other(base(p1)), "PASS"),
            (gw.chrom, p_indel, "ins1", base(p_indel), base(p_indel) + "T", "PASS"),
            (gw.chrom, p2, "flip1", _other(base(p2)), base(p2), "."),      # the genome holds ALT
            (gw.chrom, p3, "lowq", base(p3), _other(base(p3)), "LowQual"),
            (gw.chrom, p_out, "far1", base(p_out), _other(base(p_out)), "PASS"),
            ("chr1", 2000, "chr1var", genome.fetch("chr1", 1999, 2000).sequence,
             _other(genome.fetch("chr1", 1999, 2000).sequence), "PASS")]
    text = ("##fileformat=VCFv4.2\n##FILTER=<ID=LowQual,Description=\"low\">\n"
            + "".join(f"##contig=<ID={c}>\n" for c in ("chr1", "chr2", "chr3"))
            + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
            + "".join(f"{c}\t{p}\t{i}\t{r}\t{a}\t.\t{f}\t.\n" for c, p, i, r, a, f in rows))
    path = tmp_path_factory.mktemp("vcf") / "sites.vcf"
    path.write_text(text)
    return path, ["snv1", "ins1", "flip1", "lowq"], {i: (p, r, a) for _, p, i, r, a, _ in rows}


def new_app(env, **state) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=300)
    at.session_state["model_path"] = str(env["model_dir"])
    for k, v in state.items():
        at.session_state[k] = v
    return at


def chart_keys(at) -> list:
    return [el.proto.id for el in at.get("plotly_chart")]


def test_vcf_list_choose_centre_scores_and_attribution(env, window, vcf, tmp_path):
    from seqnn_engine.cli import main
    from seqnn_engine.io.export import read_hdf5
    gw, genome, L = window
    path, in_window, sites = vcf
    at = new_app(env, view="Variant", var_source="vcf")
    at.run()
    assert not at.exception
    at.file_uploader(key="vcf_upload").set_value((path.name, path.read_bytes(), "text/plain")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table["id"]) == in_window                        # exactly the in-window ones, file order
    assert list(table["pos"]) == [sites[i][0] for i in in_window]
    assert list(table["filter"]) == ["PASS", "PASS", ".", "LowQual"]
    assert list(table["genome"]) == ["REF matches", "REF matches", "flipped (genome holds ALT)", "REF matches"]
    assert [s.startswith("yes") for s in table["scorable"]] == [True, False, True, True]

    pick = at.selectbox(key="vcf_pick")
    assert len(pick.options) == 4 and [o.split(" ")[0] for o in pick.options[1:]] == ["snv1", "flip1", "lowq"]
    pick.set_value(2).run()                                     # flip1
    assert not at.exception and not at.error, [e.value for e in at.error]
    pos, ref, alt = sites["flip1"]
    start = pos - L // 2                                        # variant_window's start
    inp = at.session_state["last_input"]
    assert (inp.chrom, inp.start) == (gw.chrom, start) and inp.origin.start == gw.start
    assert inp.sequence == genome.fetch(gw.chrom, start, start + L).sequence
    assert inp.gene is not None and inp.gene.gene_name == DEFAULT_GENE    # still the gene's input
    # the overview moved with it and marks the variant
    reg = at.session_state["downloads"]
    assert read_hdf5(reg["predictions"]["hdf5"].make()).attrs["window_start"] == start
    over = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(s.get("x0") == pos - 1 for s in over["layout"].get("shapes", []))
    # the list and the upload stay
    assert list(at.dataframe[0].value["id"]) == in_window and at.session_state["vcf"]["name"] == path.name

    # the scores are the CLI's for that record
    h5 = read_hdf5(reg["variant"]["hdf5"].make())
    tidx = [int(t) for t in h5["target_index"]]
    out = tmp_path / "cli.h5"
    assert main(["variants", "--model", str(env["model_dir"]), "--vcf", str(path), "--keep-filtered",
                 "--skip-indels", "--stats", "SUM,logSUM,D2", "--targets", ",".join(map(str, tidx)), "--float32",
                 "--quiet", "--out", str(out)]) == 0
    with h5py.File(out, "r") as f:
        row = [s.decode() for s in f["snp"][()]].index("flip1")
        assert bool(f["flipped"][row]) and int(f["start"][row]) == start
        for k in ("SUM", "logSUM", "D2"):
            np.testing.assert_allclose(h5[k], f[k][row], rtol=1e-5, atol=1e-6)
    assert h5.attrs["ref"] == ref and h5.attrs["alt"] == alt and h5.attrs["variant_window_start"] == start
    assert np.abs(h5["SUM"]).max() > 0
    # the attribution of the score renders, REF and ALT side by side
    keys = " ".join(chart_keys(at))
    for k in ("var_attr_tracks", "var_attr_logo_ref", "var_attr_logo_alt"):
        assert k in keys
    att = read_hdf5(reg["variant_attribution"]["hdf5"].make())
    assert att["ref_scores"].shape == (L, 4) and att.attrs["variant_position"] == pos - 1

    # a new gene drops the centring, the VCF stays
    at.selectbox(key="gene").set_value(next(o for o in at.selectbox(key="gene").options if o != inp.gene.gene_id)).run()
    assert not at.exception
    assert at.session_state["last_input"].origin is None and "vcf" in at.session_state


def test_malformed_vcf_and_fasta_input(env, vcf):
    at = new_app(env, view="Variant", var_source="vcf")
    at.run()
    at.file_uploader(key="vcf_upload").set_value(("broken.vcf", b"#CHROM\tPOS\tID\tREF\tALT\nchr3\tten\tx\tA\tC\n",
                                                  "text/plain")).run()
    assert not at.exception
    assert at.error and "broken.vcf" in at.error[0].value and "not a whole number" in at.error[0].value
    # a good upload, then a FASTA input: the VCF needs genome coordinates
    path = vcf[0]
    at.file_uploader(key="vcf_upload").set_value((path.name, path.read_bytes(), "text/plain")).run()
    assert not at.error
    at.radio(key="input_mode").set_value("FASTA").run()
    at.text_area(key="fasta_text").set_value(">s\n" + "ACGT" * 300 + "\n").run()
    assert not at.exception
    assert any("needs" in i.value or "gene or interval" in i.value for i in at.info)


def test_table_row_selection_chooses_and_explains(env, window, tmp_path):
    """Selecting a table row chooses its variant (the selectbox follows); an indel's or a REF mismatch's
    row says why it cannot be chosen and leaves the window where it was."""
    from seqnn_engine.io.export import read_hdf5
    gw, genome, L = window
    base = lambda p: genome.fetch(gw.chrom, p - 1, p).sequence  # noqa: E731 - 1-based position
    p1, p_del, p_mis = gw.start + 1201, gw.start + 1801, gw.start + 2401
    mis_ref = _other(base(p_mis))
    mis_alt = next(b for b in "ACGT" if b not in (base(p_mis), mis_ref))    # neither allele is the genome's
    rows = [(p1, "snvA", base(p1), _other(base(p1))), (p_del, "delA", base(p_del) + "G", base(p_del)),
            (p_mis, "misA", mis_ref, mis_alt)]
    path = tmp_path / "rows.vcf"
    path.write_text("##fileformat=VCFv4.2\n##contig=<ID=%s>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" % gw.chrom
                    + "".join(f"{gw.chrom}\t{p}\t{i}\t{r}\t{a}\t.\tPASS\t.\n" for p, i, r, a in rows))
    at = new_app(env, view="Variant", var_source="vcf")
    at.run()
    at.file_uploader(key="vcf_upload").set_value((path.name, path.read_bytes(), "text/plain")).run()
    assert not at.exception and not at.error and not at.warning
    assert list(at.dataframe[0].value["id"]) == ["snvA", "delA", "misA"]

    for row, why in ((1, "insertion/deletion"), (2, "REF does not match the genome")):
        at.session_state["vcf_table"] = {"selection": {"rows": [row], "columns": []}}
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert len(at.warning) == 1 and rows[row][1] in at.warning[0].value and why in at.warning[0].value
        assert at.session_state["last_input"].origin is None          # the window did not move
        assert at.selectbox(key="vcf_pick").value is None

    at.session_state["vcf_table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not at.warning
    inp = at.session_state["last_input"]
    assert (inp.chrom, inp.start) == (gw.chrom, p1 - L // 2) and inp.origin.start == gw.start
    assert at.selectbox(key="vcf_pick").value == 0                    # the selectbox follows the table
    h5 = read_hdf5(at.session_state["downloads"]["variant"]["hdf5"].make())
    assert h5.attrs["ref"] == rows[0][2] and h5.attrs["alt"] == rows[0][3]
    at.run()                                                          # the same selection does not act again
    assert at.session_state["last_input"].start == p1 - L // 2 and not at.exception
