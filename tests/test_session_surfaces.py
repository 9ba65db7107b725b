"""One request, one result everywhere: the CLI, the engine session and the dashboard (AppTest) give
identical arrays and the same store key for predict, saliency, ISM, layer gradients, gene values and
a variant, on the tiny model directory of test_app_support (the demo genome and genes).

The CLI runs in-process (``seqnn_engine.cli.main``) with its own result store; the session is a
fresh :class:`seqnn_engine.session.Session` of the same directory; the dashboard is one AppTest
session over a third store. Arrays are compared exactly (``assert_array_equal``): the three surfaces
compute through the same session code on the same batches. Keys: the session's key of each request
is present in the CLI's store (predict, attribute, ISM) and in the dashboard's store (every kind).

The same AppTest session measures the module path of a FASTA upload and of a gene pick (see
:func:`path_modules`): <= 6 and <= 7 modules of the project.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from test_app_support import DEFAULT_GENE, DEMO, REPO, dashboard_env

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

MAIN = str(REPO / "app" / "main.py")
TARGETS = (0, 6)            # CTCF and CAGE+ (the '+' member of the stranded pair: the gene's strand)
ISM_OFFSET, ISM_BP = 2040, 12  # ISM window: window positions [2040, 2052)
VAR_OFFSET = 2100           # the variant: window position 2100 of the gene window


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with dashboard_env(tmp_path_factory) as e:
        yield e


def cli(*argv) -> None:
    from seqnn_engine.cli import main
    assert main([str(a) for a in argv]) == 0


def read(path) -> dict:
    from seqnn_engine.io.export import read_hdf5
    return read_hdf5(path)


# ----------------------------------------------------------------------------------- module path

class PathTrace:
    """Records, whenever one of the data path's functions is entered, the project modules on its call
    stack (the callers: app modules and the engine's session). The data path of an upload: the FASTA
    parser, the window, the prediction and the overview figure; of a gene pick: the gene lookup, the
    window, the prediction and the figure. Engine modules below the session (the computation itself)
    are not callers of these functions and are not counted."""

    def __init__(self, functions):
        self.codes = {f.__code__: f.__qualname__ for f in functions}
        self.modules: set = set()
        self.hit: set = set()
        self.roots = (str(REPO / "app") + "/", str(REPO / "seqnn_engine") + "/")   # the project's modules

    def __call__(self, frame, event, arg):
        if event != "call" or frame.f_code not in self.codes:
            return
        self.hit.add(self.codes[frame.f_code])
        f = frame
        while f is not None:
            name = f.f_code.co_filename
            if name.startswith(self.roots):
                self.modules.add(str(Path(name).relative_to(REPO)))
            f = f.f_back

    def __enter__(self):
        sys.setprofile(self)
        threading.setprofile(self)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)
        threading.setprofile(None)


def path_modules(at, action, functions):
    with PathTrace(functions) as tr:
        action(at)
    assert tr.hit == {f.__qualname__ for f in functions}, tr.hit
    return sorted(tr.modules)


# ----------------------------------------------------------------------------------- the test

def test_cli_session_and_dashboard_agree(env, tmp_path):
    from seqnn_engine.plot import tracks as figures
    from seqnn_engine.genomics.genes import GeneSet
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.session import Ensemble, Request, Session
    from seqnn_engine.batch.store import ResultStore

    md = env["model_dir"]
    genome = Genome(DEMO / "genome.fa.gz")
    gene = GeneSet.read(DEMO / "genes.gtf").get(DEFAULT_GENE)

    ses = Session(md, store=ResultStore(tmp_path / "session_store"))
    model = ses.model
    inp = ses.gene_input(DEFAULT_GENE)
    seq = inp.sequence
    tap = next(t.index for t in model.taps if t.name == "trunk.output")
    fasta_seq = genome.fetch(inp.chrom, inp.start + 700, inp.start + 700 + model.seq_length).sequence
    (tmp_path / "win.fa").write_text(f">win\n{fasta_seq}\n")
    (tmp_path / "gene.fa").write_text(f">gene\n{seq}\n")
    pos = inp.start + VAR_OFFSET
    alt = next(b for b in "ACGT" if b != seq[VAR_OFFSET])
    (tmp_path / "v.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                                    f"{inp.chrom}\t{pos + 1}\tv1\t{seq[VAR_OFFSET]}\t{alt}\t.\tPASS\t.\n")

    # ---------------------------------------------------------------- CLI
    cstore = tmp_path / "cli_store"
    common = ["--model", md, "--float32", "--quiet"]
    t = ",".join(map(str, TARGETS))
    cli("predict", *common, "--fasta", tmp_path / "win.fa", "--store", cstore, "--out", tmp_path / "p.h5")
    cli("attribute", *common, "--fasta", tmp_path / "gene.fa", "--targets", t, "--positions", "center",
        "--method", "saliency", "--store", cstore, "--out", tmp_path / "a.h5")
    cli("ism", *common, "--fasta", tmp_path / "gene.fa", "--targets", t, "--positions", "center",
        "--window", f"{ISM_OFFSET}:{ISM_OFFSET + ISM_BP}", "--store", cstore, "--out", tmp_path / "i.h5")
    cli("layers", "--model", md, "--float32", "--quiet", "--fasta", tmp_path / "gene.fa", "--targets", t,
        "--positions", "center", "--layers", tap, "--out", tmp_path / "l.h5")
    cli("genes", *common, "--gtf", DEMO / "genes.gtf", "--genome", DEMO / "genome.fa.gz", "--genes", DEFAULT_GENE,
        "--targets", t, "--out", tmp_path / "g.h5")
    cli("variants", *common, "--vcf", tmp_path / "v.vcf", "--genome", DEMO / "genome.fa.gz", "--targets", t,
        "--stats", "SUM,logSUM,D2", "--out", tmp_path / "v.h5")
    c_pred, c_attr, c_ism = read(tmp_path / "p.h5"), read(tmp_path / "a.h5"), read(tmp_path / "i.h5")
    c_layers, c_genes, c_var = read(tmp_path / "l.h5"), read(tmp_path / "g.h5"), read(tmp_path / "v.h5")

    # ---------------------------------------------------------------- session
    req = Request(seq, Ensemble(), TARGETS, positions="center", statistic="sum", method="saliency")
    s_pred = ses.predict(Request(fasta_seq))
    s_attr = ses.attribute(req)
    s_ism = ses.ism(req, window=(ISM_OFFSET, ISM_OFFSET + ISM_BP))
    s_layers = ses.layer_gradients(req, [tap])
    s_genes = ses.gene_values(DEFAULT_GENE, req)
    s_var = ses.variant(inp, pos, alt, req.with_(positions=None))

    np.testing.assert_array_equal(c_pred["preds"][0], s_pred["preds"])
    for k in ("scores", "grads"):
        np.testing.assert_array_equal(c_attr[k][0], s_attr[k])
        np.testing.assert_array_equal(c_ism[k][0], s_ism[k])
    np.testing.assert_array_equal(c_attr["objective"][0], s_attr["objective"])
    np.testing.assert_array_equal(c_layers[f"layer{tap}/grads"][0], s_layers.grads(tap))
    np.testing.assert_array_equal(c_layers[f"layer{tap}/reprs"][0], s_layers.reprs(tap))
    assert c_layers["targets"].tolist() == list(TARGETS)
    np.testing.assert_array_equal(c_genes["gene_values"][0], s_genes["values"])
    assert c_genes["start"][0] == inp.start and c_genes["n_tss"][0] == len(gene.tss_list)
    for k in ("SUM", "logSUM", "D2"):
        np.testing.assert_array_equal(c_var[k][0], s_var[k])
    assert c_var["start"][0] == s_var.meta["window_start"] == pos + 1 - model.seq_length // 2
    # keys: the session's key of each request is the CLI's row key
    cli_store = ResultStore(cstore)
    for r in (s_pred, s_attr, s_ism):
        assert cli_store.get(r.key) is not None, r.key
    assert c_layers.attrs["store_keys"][0] == s_layers.key

    # ---------------------------------------------------------------- dashboard (one AppTest session)
    at = AppTest.from_file(MAIN, default_timeout=300)
    at.session_state["model_path"] = str(md)
    at.session_state["targets"] = list(TARGETS)
    at.session_state["attr_objective"] = "center"
    at.session_state["attr_method"] = "saliency"
    at.session_state["layers"] = [tap]
    at.run()
    _ok(at)
    reg = at.session_state["downloads"]
    d_gene_pred = read(reg["predictions"]["hdf5"].make())
    d_attr = read(reg["attribution"]["hdf5"].make())
    np.testing.assert_array_equal(d_gene_pred["gene_values"], s_genes["values"])
    assert d_gene_pred["gene_value_targets"].tolist() == list(TARGETS)
    np.testing.assert_array_equal(d_attr["scores"], s_attr["scores"])
    np.testing.assert_array_equal(d_attr["hypothetical"], s_attr["grads"])
    np.testing.assert_array_equal(d_attr["objective"], s_attr["objective"])
    # ISM of the same window: select it, run it
    lo = inp.start + ISM_OFFSET
    at.slider(key="range_slider").set_value((lo, lo + ISM_BP)).run()
    at.button(key="ism_run").click().run()
    _ok(at)
    d_ism = read(at.session_state["downloads"]["ism"]["hdf5"].make())
    np.testing.assert_array_equal(d_ism["ism_delta"], s_ism["scores"][ISM_OFFSET:ISM_OFFSET + ISM_BP])
    # the layer view (its objective: the central bins)
    at.segmented_control(key="view").set_value("Layers").run()
    _ok(at)
    d_layers = read(at.session_state["downloads"]["layers"]["hdf5"].make())
    np.testing.assert_array_equal(d_layers[f"layer{tap}/grads"], s_layers.grads(tap))
    # the variant view, centred on the variant like the CLI
    at.segmented_control(key="view").set_value("Variant").run()
    at.number_input(key="var_pos").set_value(pos).run()
    at.selectbox(key="var_alt").set_value(alt).run()
    _ok(at)
    d_var = read(at.session_state["downloads"]["variant"]["hdf5"].make())
    for k in ("SUM", "logSUM", "D2"):
        np.testing.assert_array_equal(d_var[k], s_var[k])
    assert d_var.attrs["variant_window_start"] == s_var.meta["window_start"]

    # a gene pick: the module path to the overview figure (gene lookup, window, prediction, figure)
    mods_gene = path_modules(at, lambda a: a.selectbox(key="gene").set_value("DEMOG00135").run(),
                             [GeneSet.get, Session.gene_input, Session._predict, figures.tracks_figure])
    _ok(at)
    # a FASTA upload: the module path from the upload to the overview figure
    at.radio(key="input_mode").set_value("FASTA").run()
    fu = at.file_uploader(key="fasta_upload")

    def upload(a):
        fu.set_value(("win.fa", (tmp_path / "win.fa").read_bytes(), "text/plain")).run()
    mods_fasta = path_modules(at, upload, [Session.parse_fasta, Session.fasta_input, Session._predict,
                                           figures.tracks_figure])
    _ok(at)
    d_pred = read(at.session_state["downloads"]["predictions"]["hdf5"].make())
    np.testing.assert_array_equal(d_pred["preds"], s_pred["preds"])
    np.testing.assert_array_equal(d_pred["preds"], c_pred["preds"][0])
    print(f"\nFASTA upload -> overview figure: {len(mods_fasta)} modules {mods_fasta}"
          f"\ngene pick -> overview figure: {len(mods_gene)} modules {mods_gene}")
    assert len(mods_fasta) <= 6, mods_fasta
    assert len(mods_gene) <= 7, mods_gene
    assert not any(m.startswith("app/") and m.split("/")[-1] in ("compute.py", "cache.py", "geometry.py")
                   for m in mods_fasta + mods_gene)

    # the dashboard stored every result under the session's keys
    dstore = ResultStore(env["store"])
    for r in (s_pred, s_attr, s_ism, s_layers, s_var):
        assert dstore.get(r.key) is not None, r.key


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_cli_variants_honour_mc_dropout_like_the_session(env, tmp_path):
    """``variants --mc N --mc-seed S`` scores with N MC-dropout samples per shift, as the session does for
    the same ensemble; the samples change the scores (the tiny model's dropout is active)."""
    from seqnn_engine.session import Ensemble, Request, Session
    ses = Session(env["model_dir"])
    inp = ses.gene_input(DEFAULT_GENE)
    pos = inp.start + VAR_OFFSET
    ref = inp.sequence[VAR_OFFSET]
    alt = next(b for b in "ACGT" if b != ref)
    (tmp_path / "v.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                                    f"{inp.chrom}\t{pos + 1}\tv1\t{ref}\t{alt}\t.\tPASS\t.\n")
    cli("variants", "--model", env["model_dir"], "--float32", "--quiet", "--vcf", tmp_path / "v.vcf",
        "--genome", DEMO / "genome.fa.gz", "--targets", "0,6", "--stats", "SUM,D2", "--mc", 2, "--mc-seed", 3,
        "--out", tmp_path / "mc.h5")
    got = read(tmp_path / "mc.h5")
    req = Request(inp.sequence, Ensemble(mc_n=2, mc_seed=3), TARGETS)
    want = ses.variant(inp, pos, alt, req, stats=("SUM", "D2"))
    plain = ses.variant(inp, pos, alt, req.with_(ensemble=Ensemble()), stats=("SUM", "D2"))
    for k in ("SUM", "D2"):
        np.testing.assert_array_equal(got[k][0], want[k])
    assert not np.array_equal(want["D2"], plain["D2"])


def test_cli_store_entry_of_an_ensemble_is_completed_by_the_session(env, tmp_path):
    """The CLI stores only the ensemble mean; a session asking the same key for its members recomputes
    them (not one fake member from the mean) and replaces the entry, whose mean is the CLI's."""
    from seqnn_engine.batch.store import ResultStore
    from seqnn_engine.genomics.onehot import encode
    from seqnn_engine.session import Ensemble, Request, Session
    ses = Session(env["model_dir"], store=ResultStore(tmp_path / "store"))
    seq = ses.gene_input(DEFAULT_GENE).sequence
    (tmp_path / "g.fa").write_text(f">g\n{seq}\n")
    cli("predict", "--model", env["model_dir"], "--float32", "--quiet", "--fasta", tmp_path / "g.fa", "--rc",
        "--store", tmp_path / "store", "--out", tmp_path / "p.h5")
    req = Request(seq, Ensemble(rc=True))
    stored = ResultStore(tmp_path / "store").get(ses.prediction_key(req))
    assert stored is not None and set(stored.arrays) == {"preds"}
    r = ses.predict(req)
    assert r.source == "computed" and r["members"].shape[-1] == 2
    want = ses.model.predict(encode(seq)[None], rc=True, return_all=True)
    np.testing.assert_array_equal(r["members"], want.members[0])
    np.testing.assert_array_equal(r["preds"], read(tmp_path / "p.h5")["preds"][0])
    again = Session(env["model_dir"], store=ResultStore(tmp_path / "store")).predict(req)
    assert again.source == "store" and again["members"].shape[-1] == 2


def test_dashboard_ism_limit_is_the_engines(env, monkeypatch):
    """The ISM button offers at most SEQNN_MAX_ISM_BP positions (the engine's limit, not a page constant):
    a 200 bp selection under a 50 bp limit is cut to its central 50 bp."""
    monkeypatch.setenv("SEQNN_MAX_ISM_BP", "50")
    at = AppTest.from_file(MAIN, default_timeout=300)
    at.session_state["model_path"] = str(env["model_dir"])
    at.run()
    _ok(at)
    lo, hi = at.slider(key="range_slider").value
    assert hi - lo == 200
    label = at.button(key="ism_run").label
    c = (lo + hi) // 2
    assert f"Run ISM on {c - 25:,}-{c + 25:,} (the central 50 bp of the selection): 150 mutants" in label, label
