"""The variant view with replicate "all" on a two-replicate model directory (the tiny architecture,
two seeded weight files, the demo genome and genes): a VCF variant chosen in the dashboard is scored
as the mean over replicates, and its spread column is the replicates' standard deviation.

Truth: the CLI's ``variants`` run once per replicate (``--replicate 0`` / ``--replicate 1``) on the same
VCF, combined here with numpy.
"""
from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from test_app_support import DEFAULT_GENE, DEMO, REPO, build_replicates

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

MAIN = str(REPO / "app" / "main.py")
STATS = ("SUM", "logSUM", "D2")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A model root holding ``tiny_reps`` (two weight files) with the demo genome and genes, an empty
    store and an empty dashboard config."""
    root = tmp_path_factory.mktemp("models")
    d = build_replicates(root)
    for f in ("genome.fa.gz", "genome.fa.gz.fai", "genome.fa.gz.gzi", "genes.gtf"):
        shutil.copy(DEMO / f, d / f)
    (d / "manifest.json").write_text(json.dumps({"name": "Tiny replicates", "genome": "genome.fa.gz",
                                                 "genes": "genes.gtf", "targets": "targets.txt",
                                                 "default_gene": DEFAULT_GENE}))
    cfg = tmp_path_factory.mktemp("cfg") / "config.toml"
    cfg.write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQNN_MODEL_ROOTS", str(root))
        mp.setenv("SEQNN_STORE_DIR", str(tmp_path_factory.mktemp("store")))
        mp.setenv("SEQNN_DASHBOARD_CONFIG", str(cfg))
        yield {"model_dir": d.resolve()}


@pytest.fixture(scope="module")
def vcf(env, tmp_path_factory):
    """One SNV inside the default gene's window; returns (path, pos 1-based, ref, alt, window start of L/2 centring)."""
    from seqnn_engine import load_model_dir
    from seqnn_engine.genomics.genes import GeneSet, gene_window
    from seqnn_engine.genomics.genome import Genome
    m = load_model_dir(env["model_dir"])
    gw = gene_window(GeneSet.read(DEMO / "genes.gtf").get(DEFAULT_GENE), m.seq_length, m.stride, m.crop)
    pos = gw.start + 1601
    ref = Genome(DEMO / "genome.fa.gz").fetch(gw.chrom, pos - 1, pos).sequence
    alt = "A" if ref != "A" else "G"
    path = tmp_path_factory.mktemp("vcf") / "one.vcf"
    path.write_text(f"##fileformat=VCFv4.2\n##contig=<ID={gw.chrom}>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                    f"{gw.chrom}\t{pos}\tv1\t{ref}\t{alt}\t.\tPASS\t.\n")
    return path, pos, ref, alt, pos - m.seq_length // 2


def test_variant_scores_with_all_replicates_are_the_replicate_mean(env, vcf, tmp_path):
    from seqnn_engine.cli import main
    from seqnn_engine.io.export import read_hdf5
    path, pos, ref, alt, start = vcf
    at = AppTest.from_file(MAIN, default_timeout=300)
    at.session_state["model_path"] = str(env["model_dir"])
    at.session_state["replicate"] = "all"
    at.session_state["view"] = "Variant"
    at.session_state["var_source"] = "vcf"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="replicate").value == "all"
    at.file_uploader(key="vcf_upload").set_value((path.name, path.read_bytes(), "text/plain")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.selectbox(key="vcf_pick").set_value(0).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["last_input"].start == start

    reg = at.session_state["downloads"]
    h5 = read_hdf5(reg["variant"]["hdf5"].make())
    assert h5.attrs["ref"] == ref and h5.attrs["alt"] == alt and h5.attrs["variant_window_start"] == start
    tidx = [int(t) for t in h5["target_index"]]
    per_rep = []
    for r in (0, 1):
        out = tmp_path / f"rep{r}.h5"
        assert main(["variants", "--model", str(env["model_dir"]), "--replicate", str(r), "--vcf", str(path),
                     "--stats", ",".join(STATS), "--targets", ",".join(map(str, tidx)), "--float32", "--quiet",
                     "--out", str(out)]) == 0
        with h5py.File(out, "r") as f:
            assert int(f["start"][0]) == start
            per_rep.append({k: np.asarray(f[k][0]) for k in STATS})
    table = next(df.value for df in at.dataframe if "SUM spread" in df.value.columns)
    for k in STATS:
        stack = np.stack([p[k] for p in per_rep])
        assert not np.allclose(stack[0], stack[1])                   # the replicates really differ
        np.testing.assert_allclose(h5[k], stack.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(table[k], stack.mean(0), rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(table[f"{k} spread"], stack.std(0, ddof=1), rtol=1e-4, atol=2e-6)
    # the attribution of the score renders on the replicate ensemble too
    att = read_hdf5(reg["variant_attribution"]["hdf5"].make())
    assert att["ref_scores"].shape == att["alt_scores"].shape and np.isfinite(att["alt_scores"]).all()
