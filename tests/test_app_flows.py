"""Dashboard flows with Streamlit's AppTest on a tiny model (no browser).

Each flow checks what the page shows against an independent computation with the engine:
the HDF5 download of the predictions equals ``model.predict`` on the same genome window, the
variant scores equal ``seqnn_engine.analysis.variants.compute_scores`` of separately predicted alleles,
the test-set table equals ``predict_file.evaluate``.
"""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from test_app_support import DEFAULT_GENE, DEMO, REPO, build_replicates, dashboard_env

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

MAIN = str(REPO / "app" / "main.py")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with dashboard_env(tmp_path_factory) as e:
        yield {**e, "reps_dir": build_replicates(e["root"]).resolve()}


@pytest.fixture(scope="module")
def model(env):
    from seqnn_engine import load_model_dir
    return load_model_dir(env["model_dir"])


def new_app(env, **state) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=180)
    at.session_state["model_path"] = str(env["model_dir"])
    for k, v in state.items():
        at.session_state[k] = v
    return at


def charts(at) -> dict:
    """key -> plotly figure dict of every chart on the page (keys from the chart ids)."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[el.proto.id.split("-")[-1] if el.proto.id else str(len(out))] = spec
    return out


def figure_titles(at) -> list[str]:
    titles = []
    for el in at.get("plotly_chart"):
        t = json.loads(el.proto.spec)["layout"].get("title", {})
        titles.append(t.get("text", "") if isinstance(t, dict) else str(t))
    return titles


def no_problems(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def decode(arr) -> np.ndarray:
    """A plotly JSON array (list or base64 typed array) as numpy."""
    import base64
    if isinstance(arr, dict) and "bdata" in arr:
        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
    return np.asarray(arr, dtype=np.float64)


def genome_window(model, gene_name: str) -> tuple:
    from seqnn_engine.genomics.genes import GeneSet, gene_window
    from seqnn_engine.genomics.genome import Genome
    g = GeneSet.read(DEMO / "genes.gtf").get(gene_name)
    gw = gene_window(g, model.seq_length, model.stride, model.crop)
    seq = Genome(DEMO / "genome.fa.gz").fetch(gw.chrom, gw.start, gw.end).sequence
    return g, gw, seq


def test_default_page_renders_demo_gene_with_charts(env, model):
    at = new_app(env)
    at.run()
    no_problems(at)
    assert at.selectbox(key="gene").value == "DEMOG00129"
    titles = figure_titles(at)
    assert len(titles) >= 4  # overview tracks, contribution, logo, hypothetical heatmap
    assert any(t.startswith("Sequence logo") for t in titles)
    over = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [tr.get("name") for tr in over["data"]]
    # one target per assay group by default; the CAGE +/- pair is one track on the gene's strand (+)
    assert names.count("CTCF") == 1 and "CAGE+" in names and "CAGE-" not in names
    assert "TSS" in names and "exons" in names
    assert over["layout"]["dragmode"] == "select"
    # the model's output bins are drawn at their centres in genome coordinates
    _, gw, _ = genome_window(model, DEFAULT_GENE)
    x = decode(next(tr for tr in over["data"] if tr.get("name") == "CTCF")["x"])
    assert x[0] == gw.start + model.crop * model.stride + model.stride / 2
    assert len(x) == model.target_length
    assert any(f"{DEFAULT_GENE} (" in m.value for m in at.markdown)


def test_gene_pick_and_hdf5_equals_engine_prediction(env, model):
    from seqnn_engine.io.export import read_hdf5
    at = new_app(env)
    at.run()
    at.selectbox(key="gene").set_value("DEMOG00135").run()
    no_problems(at)
    assert any("DMG135 (DEMOG00135)" in m.value for m in at.markdown)
    g, gw, seq = genome_window(model, "DMG135")
    assert any(f"Strand **{g.strand}**" in c.value for c in at.sidebar.caption)
    h5 = read_hdf5(at.session_state["downloads"]["predictions"]["hdf5"].make())
    ref = model.predict(np.eye(4, dtype=np.float32)[None, [("ACGT".index(c) if c in "ACGT" else 0) for c in seq]])
    np.testing.assert_allclose(h5["preds"], ref.mean[0], rtol=1e-5, atol=1e-6)
    assert h5.attrs["chrom"] == gw.chrom and h5.attrs["window_start"] == gw.start
    assert h5["tss_bins"].tolist() == gw.tss_bins.tolist()
    np.testing.assert_array_equal(h5["bin_start"], gw.start + (model.crop + np.arange(model.target_length)) * 32)


def _to_fasta_mode(at):
    at.radio(key="input_mode").set_value("FASTA").run()


def test_fasta_upload_valid_then_invalid(env, model):
    at = new_app(env)
    at.run()
    _to_fasta_mode(at)
    no_problems(at)
    data = (DEMO / "examples" / "promoter_windows.fa").read_bytes()
    at.sidebar.get("file_uploader")[0]  # the uploader is drawn
    fu = at.file_uploader(key="fasta_upload")
    fu.set_value(("promoter_windows.fa", data, "text/plain")).run()
    no_problems(at)
    rec = at.selectbox(key="fasta_record")
    assert len(rec.options) == 4
    rec.set_value(2).run()
    no_problems(at)
    assert any("DMG128_TSS" in m.value for m in at.markdown)
    over = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "TSS" not in [tr.get("name") for tr in over["data"]]  # no gene track for a FASTA input
    # exports of a FASTA input use the record's own coordinates and name
    import pyBigWig
    from seqnn_engine.io.export import read_hdf5
    reg = at.session_state["downloads"]
    h5 = read_hdf5(reg["predictions"]["hdf5"].make())
    assert h5.attrs["sequence_name"] == "DMG128_TSS" and h5.attrs["window_start"] == 0
    p = env["root"] / "fasta_ctcf.bw"
    p.write_bytes(io.BytesIO(reg["predictions"]["bigwig"].make()).getvalue())
    z = zipfile.ZipFile(p)
    p.write_bytes(z.read("CTCF.bw"))
    bw = pyBigWig.open(str(p))
    assert bw.chroms() == {"DMG128_TSS": 4096}
    assert bw.values("DMG128_TSS", 8 * 32, 9 * 32)[0] == pytest.approx(float(h5["preds"][0, 0]))
    bw.close()
    # an invalid upload shows an error and keeps the records that were there
    at.file_uploader(key="fasta_upload").set_value(("bad.fa", b">x\nACGT\n>x\nAC-GT!\n", "text/plain")).run()
    assert at.sidebar.error, "an invalid FASTA must show an error"
    assert "bad.fa" in at.sidebar.error[0].value
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 1 and any("DMG128_TSS" in m.value for m in at.markdown)


def test_switching_inputs_keeps_what_the_user_entered(env):
    at = new_app(env)
    at.run()
    at.selectbox(key="gene").set_value("DEMOG00130").run()
    _to_fasta_mode(at)
    data = (DEMO / "examples" / "promoter_windows.fa").read_bytes()
    at.file_uploader(key="fasta_upload").set_value(("promoter_windows.fa", data, "text/plain")).run()
    at.selectbox(key="fasta_record").set_value(3).run()
    at.radio(key="input_mode").set_value("Interval").run()
    at.text_input(key="interval").set_value("chr3:30,000-30,100").run()
    at.radio(key="input_mode").set_value("Gene").run()
    no_problems(at)
    assert at.selectbox(key="gene").value == "DEMOG00130"
    _to_fasta_mode(at)
    assert at.selectbox(key="fasta_record").value == 3
    assert any("DMG130_TSS" in m.value for m in at.markdown)
    at.radio(key="input_mode").set_value("Interval").run()
    assert at.text_input(key="interval").value == "chr3:30,000-30,100"
    no_problems(at)


def test_gene_search_box_for_large_annotations(env, monkeypatch):
    import app.inputs
    monkeypatch.setattr(app.inputs, "GENE_SELECT_LIMIT", 10)   # the demo has 183 genes: search first
    at = new_app(env)
    at.run()
    no_problems(at)
    assert at.selectbox(key="gene").options[0].startswith("DMG129")  # the default stays selectable
    at.text_input(key="gene_query").set_value("dmg14").run()
    opts = at.selectbox(key="gene").options
    assert all("DMG14" in o for o in opts[1:]) and len(opts) == 1 + 10   # DMG140..DMG149
    at.selectbox(key="gene").set_value("DEMOG00142").run()
    no_problems(at)
    assert any("DMG142 (DEMOG00142)" in m.value for m in at.markdown)


def test_fasta_paste_short_sequence_is_padded(env):
    at = new_app(env)
    at.run()
    _to_fasta_mode(at)
    at.text_area(key="fasta_text").set_value(">short test\nACGTTGCA" * 1 + "GATTACA" * 20).run()
    no_problems(at)
    assert any("padded with" in c.value for c in at.caption)
    lo, hi = at.slider(key="range_slider").value
    assert (lo, hi) == (0, 8 + 140)  # the detail range starts on the user's own bases


def test_interval_and_bad_interval_keep_page(env, model):
    at = new_app(env)
    at.run()
    at.radio(key="input_mode").set_value("Interval").run()
    at.text_input(key="interval").set_value("chr3:25,000-25,300").run()
    no_problems(at)
    assert at.slider(key="range_slider").value == (25000, 25300)
    at.text_input(key="interval").set_value("chr3:899,900-900,000").run()
    no_problems(at)
    assert any("past the chromosome end" in c.value for c in at.caption)
    at.text_input(key="interval").set_value("chr9:1-100").run()
    assert at.sidebar.error and "chr9" in at.sidebar.error[0].value
    assert not at.exception
    assert any("previous input" in c.value for c in at.sidebar.caption)
    assert len(at.get("plotly_chart")) >= 1


def test_option_changes(env, model):
    at = new_app(env)
    at.run()
    n_plain = len(json.loads(at.get("plotly_chart")[0].proto.spec)["data"])
    at.checkbox(key="ens_rc").check()
    at.select_slider(key="ens_shifts").set_value(1)
    at.run()
    no_problems(at)
    over = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(over["data"]) > n_plain  # +-1 sd bands appear with an ensemble
    from seqnn_engine.io.export import read_hdf5
    h5 = read_hdf5(at.session_state["downloads"]["predictions"]["hdf5"].make())
    assert h5["members"].shape == (model.target_length, model.num_targets, 6)
    assert h5.attrs["rc"] is True and h5.attrs["shifts"] == [-1, 0, 1]
    # fewer targets -> fewer tracks
    at.multiselect(key="targets").set_value([0, 6]).run()
    no_problems(at)
    names = [tr.get("name") for tr in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert "CTCF" in names and "CAGE+" in names and "SPI1" not in names
    # attribution method and objective
    at.selectbox(key="attr_method").set_value("grad_x_input")
    at.radio(key="attr_objective").set_value("range")
    at.run()
    no_problems(at)
    assert any(c.value.startswith("Gradient x input") and "selected range" in c.value for c in at.caption)
    # TSS objective (gene input) and MC-dropout samples (without RC and shifts, to stay quick)
    at.radio(key="attr_objective").set_value("tss")
    at.checkbox(key="ens_rc").uncheck()
    at.select_slider(key="ens_shifts").set_value(0)
    at.number_input(key="ens_mc").set_value(3)
    at.run()
    no_problems(at)
    assert any("tss bins" in c.value for c in at.caption)
    h5 = read_hdf5(at.session_state["downloads"]["predictions"]["hdf5"].make())
    assert h5["members"].shape[-1] == 3 and h5.attrs["mc_n"] == 3 and h5.attrs["rc"] is False
    assert float(h5["sd"].max()) > 0   # dropout samples differ


def test_range_slider_drives_logo(env):
    at = new_app(env)
    at.run()
    lo, hi = at.slider(key="range_slider").value
    at.slider(key="range_slider").set_value((lo + 10, lo + 40)).run()
    no_problems(at)
    logo = next(json.loads(el.proto.spec) for el in at.get("plotly_chart")
                if json.loads(el.proto.spec)["layout"].get("title", {}).get("text", "").startswith("Sequence logo"))
    assert logo["layout"]["xaxis"]["range"] == [lo + 10 - 0.6, lo + 40 - 0.4]
    assert [tr["name"] for tr in logo["data"]][:4] == list("ACGT")   # then seqlet boxes, if any
    assert all(tr["fill"] == "toself" for tr in logo["data"][:4])


def test_downloads_read_back(env, model):
    import pyBigWig
    from seqnn_engine.io.export import read_hdf5
    at = new_app(env)
    at.run()
    reg = at.session_state["downloads"]
    assert {"hdf5", "npz", "csv", "bigwig", "html"} <= set(reg["predictions"])
    assert {"hdf5", "npz", "csv", "bigwig", "bed", "html"} <= set(reg["attribution"])
    pred = read_hdf5(reg["predictions"]["hdf5"].make())
    npz = np.load(io.BytesIO(reg["predictions"]["npz"].make()))
    np.testing.assert_array_equal(npz["preds"], pred["preds"])
    assert json.loads(str(npz["meta_json"]))["model_digest"] == model.digest
    csv = reg["predictions"]["csv"].make().splitlines()
    assert csv[0].split(",")[:3] == ["chrom", "position", "CTCF"]
    first = csv[1].split(",")
    assert int(first[1]) == pred["bin_start"][0] and float(first[2]) == pytest.approx(float(pred["preds"][0, 0]))
    z = zipfile.ZipFile(io.BytesIO(reg["predictions"]["bigwig"].make()))
    assert "CTCF.bw" in z.namelist()
    p = env["root"] / "ctcf.bw"
    p.write_bytes(z.read("CTCF.bw"))
    bw = pyBigWig.open(str(p))
    chrom = pred.attrs["chrom"]
    b0 = int(pred["bin_start"][0])
    vals = bw.values(chrom, b0, b0 + 32 * model.target_length)
    np.testing.assert_allclose(np.asarray(vals)[::32], pred["preds"][:, 0], rtol=1e-6)
    bw.close()
    attr = read_hdf5(reg["attribution"]["hdf5"].make())
    assert attr["scores"].shape == (model.seq_length, 4)
    bed = reg["attribution"]["bed"].make().splitlines()
    top = np.argmax(np.abs(attr["position_scores"]))
    assert bed[0].split("\t")[:3] == [chrom, str(int(attr["position"][top])), str(int(attr["position"][top]) + 1)]
    assert "plotly" in reg["attribution"]["html"].make()[:5000].lower()


def test_variant_view_scores_equal_engine(env, model):
    """The variant is scored on the window centred on it (as the CLI's variants command): its REF base
    at window position L // 2 - 1, both alleles predicted on that genome window."""
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.analysis.variants import compute_scores
    # every target: the seven entries (the CAGE pair is one) drawn on both strands
    at = new_app(env, view="Variant", targets=list(range(7)), target_strand="both")
    at.run()
    no_problems(at)
    _, gw, seq = genome_window(model, DEFAULT_GENE)
    pos = gw.start + 2100
    at.number_input(key="var_pos").set_value(pos).run()
    ref_base = seq[2100]
    alt = next(b for b in "ACGT" if b != ref_base)
    at.selectbox(key="var_alt").set_value(alt).run()
    no_problems(at)
    from seqnn_engine.io.export import read_hdf5
    h5 = read_hdf5(at.session_state["downloads"]["variant"]["hdf5"].make())
    L = model.seq_length
    start = pos + 1 - L // 2
    win = Genome(DEMO / "genome.fa.gz").fetch(gw.chrom, start, start + L).sequence
    assert win[L // 2 - 1] == ref_base
    alt_seq = win[:L // 2 - 1] + alt + win[L // 2:]
    enc = lambda s: np.eye(4, dtype=np.float32)[[("ACGT".index(c) if c in "ACGT" else 0) for c in s]]  # noqa: E731
    tidx = h5["target_index"]
    p = model.predict(np.stack([enc(win), enc(alt_seq)]), target_indexes=tidx).mean
    want = compute_scores(p[0][None], p[1][None], ("SUM", "logSUM", "D2"))
    for k in ("SUM", "logSUM", "D2"):
        np.testing.assert_allclose(h5[k], want[k], rtol=1e-4, atol=1e-5)
    assert h5.attrs["ref"] == ref_base and h5.attrs["alt"] == alt and h5.attrs["variant_window_start"] == start
    np.testing.assert_allclose(h5["ref_preds"], p[0], rtol=1e-5, atol=1e-6)


def test_ism_on_demand_and_diagnostics(env):
    at = new_app(env)
    at.run()
    lo, _ = at.slider(key="range_slider").value
    at.slider(key="range_slider").set_value((lo, lo + 20)).run()
    at.button(key="ism_run").click().run()
    no_problems(at)
    assert any(t.startswith("ISM") for t in figure_titles(at))
    assert "ism" in at.session_state["downloads"]
    at.segmented_control(key="view").set_value("Diagnostics").run()
    no_problems(at)
    assert any("Gradient vs ISM" in m.value for m in at.markdown)
    assert any("Pearson r (forward vs RC)" in str(df.value.columns.tolist()) for df in at.dataframe)


def test_layers_view(env, model):
    pytest.importorskip("seqnn_engine.attribution.layer_grads")
    at = new_app(env, view="Layers", targets=[0, 6])
    at.run()
    no_problems(at)
    titles = figure_titles(at)
    assert any("units x positions" in t for t in titles) and any("targets x positions" in t for t in titles)
    from seqnn_engine.io.export import read_hdf5
    h5 = read_hdf5(at.session_state["downloads"]["layers"]["hdf5"].make())
    tap = next(t for t in model.taps if t.name == "trunk.output")
    g = h5[f"layer{tap.index}/grads"]
    assert g.shape == (2, tap.length, tap.width)
    # the engine's layer gradients of the same window, computed independently
    _, _, seq = genome_window(model, DEFAULT_GENE)
    enc = np.eye(4, dtype=np.float32)[[("ACGT".index(c) if c in "ACGT" else 0) for c in seq]][None]
    ref = model.gradients(enc, layers=[tap.index], targets=[0, 6])
    np.testing.assert_allclose(g, ref.grads[0][0], rtol=1e-4, atol=1e-6)


def test_testset_page_matches_engine_evaluate(env, model):
    from seqnn_engine.analysis.datasets import open_dataset
    from seqnn_engine.analysis.predict_file import evaluate
    at = new_app(env, page="Test set")
    at.run()
    no_problems(at)
    assert at.selectbox(key="dataset").value.endswith("tiny_testset.h5")
    at.button(key="eval_run").click().run()
    no_problems(at)
    df = at.dataframe[0].value
    acc = evaluate(model, open_dataset(env["root"] / "tiny_testset.h5"))
    np.testing.assert_allclose(df["pearsonr"].to_numpy(), np.round(acc.pearsonr, 4), atol=1e-4)
    assert figure_titles(at)[-1].startswith("Predicted vs observed")


def test_model_page(env, model):
    at = new_app(env, page="Model")
    at.run()
    no_problems(at)
    taps = at.dataframe[0].value
    assert taps["name"].tolist() == [t.name for t in model.taps]
    assert at.dataframe[1].value["identifier"].tolist()[:2] == ["CTCF", "SPI1"]


def test_replicates_and_fasta_only_model(env):
    """A directory with two weight files offers a replicate choice; without a genome only FASTA input."""
    from seqnn_engine import load_model_dir
    from seqnn_engine.io.export import read_hdf5
    at = new_app(env)
    at.session_state["model_path"] = str(env["reps_dir"])
    at.run()
    no_problems(at)
    assert at.radio(key="input_mode").options == ["FASTA"]
    at.text_area(key="fasta_text").set_value(">r\n" + "ACGTTGCAAT" * 300).run()
    no_problems(at)
    preds = []
    for rep in (0, 1):
        at.selectbox(key="replicate").set_value(rep).run()
        no_problems(at)
        h5 = read_hdf5(at.session_state["downloads"]["predictions"]["hdf5"].make())
        m = load_model_dir(env["reps_dir"], replicate=rep)
        assert h5.attrs["model_digest"] == m.digest
        preds.append(h5["preds"])
    assert not np.allclose(preds[0], preds[1])


@pytest.mark.skipif(not (DEMO / "manifest.json").exists(), reason="the demo model (assets/demo) is not trained yet")
def test_demo_model_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQNN_MODEL_ROOTS", "")
    monkeypatch.setenv("SEQNN_STORE_DIR", str(tmp_path))
    monkeypatch.setenv("SEQNN_DASHBOARD_CONFIG", str(tmp_path / "none.toml"))
    at = AppTest.from_file(MAIN, default_timeout=180)
    at.run()
    no_problems(at)
    assert at.selectbox(key="model_path").value == str(DEMO.resolve())
    assert at.selectbox(key="gene").value and len(at.get("plotly_chart")) >= 2
