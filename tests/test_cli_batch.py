"""Batch commands (predict, attribute, genes, export), resume after a hard kill, the result
store and its keys, and one-line errors.

The model is a tiny random-weight Baskerville-style model built from a params dict in a
temporary model directory (1024 bp in, 56 bins of 16 bp, the 8 demo targets with the CAGE
strand pair), so every check runs in seconds against the engine's own API.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import REPO
from seqnn_engine.cli import main

DEMO = REPO / "assets" / "demo"
PROMOTERS = DEMO / "examples" / "promoter_windows.fa"
MIXED = DEMO / "examples" / "mixed.fa"
GENOME = DEMO / "genome.fa.gz"
GTF = DEMO / "genes.gtf"

TINY_PARAMS = {"model": {
    "seq_length": 1024, "activation": "gelu", "norm_type": "batch", "bn_momentum": 0.9,
    "trunk": [{"name": "conv_dna", "filters": 16, "kernel_size": 11, "pool_size": 8},
              {"name": "conv_tower", "filters_init": 16, "filters_mult": 1.0, "repeat": 1, "kernel_size": 5,
               "pool_size": 2},
              {"name": "dilated_residual", "filters": 8, "rate_mult": 2, "repeat": 1, "dropout": 0.1},
              {"name": "Cropping1D", "cropping": 4}],
    "head": {"name": "final", "units": 8, "activation": "softplus"}}}


def build_tiny_model(d: Path) -> Path:
    """A model directory with random weights (seeded), params.json and the demo targets.txt."""
    import keras

    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import save_weights

    d.mkdir(parents=True, exist_ok=True)
    (d / "params.json").write_text(json.dumps(TINY_PARAMS))
    keras.utils.set_random_seed(7)
    net = build_network(parse_params(d / "params.json"), 0)
    save_weights(net.layers, d / "model0.h5")
    shutil.copy(DEMO / "targets.txt", d / "targets.txt")
    return d


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def model(model_dir):
    from seqnn_engine import load_model_dir

    return load_model_dir(model_dir)


def cli(*args) -> int:
    return main([str(a) for a in args])


def read(path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}


def onehot_windows(model, fasta, fit="crop"):
    from seqnn_engine.genomics.onehot import encode_batch
    from seqnn_engine.genomics.sequences import fit_sequence, read_fasta

    wins, offs, names = [], [], []
    for rec in read_fasta(fasta):
        f = fit_sequence(rec, model.seq_length, mode=fit)
        wins += list(f.windows)
        offs += [int(o) for o in f.offsets]
        names += [rec.name] * len(f)
    return encode_batch(wins), np.array(offs), names


# ----------------------------------------------------------------------------------------
# predict


def test_predict_fasta_equals_engine_predict(model, model_dir, tmp_path):
    out = tmp_path / "p.h5"
    rc = cli("predict", "--model", model_dir, "--fasta", MIXED, "--targets", "0,6-7", "--rc", "--shifts", "-1,0,1",
             "--chunk-size", "2", "--float32", "--quiet", "--out", out, "--tsv-out", tmp_path / "p.tsv")
    assert rc == 0 and out.exists() and not (tmp_path / "p.h5.partial").exists()
    d = read(out)
    x, offs, names = onehot_windows(model, MIXED)
    want = model.predict(x, rc=True, shifts=(-1, 0, 1), target_indexes=[0, 6, 7]).mean
    np.testing.assert_allclose(d["preds"], want, rtol=1e-5, atol=1e-6)
    assert d["preds"].dtype == np.float32 and d["preds"].shape == (5, 56, 3)
    np.testing.assert_array_equal(d["seqs"], x > 0.5)
    # fit offsets recorded: shorter records are centred (negative start), N rows are all False
    np.testing.assert_array_equal(d["start"], offs)
    np.testing.assert_array_equal(d["end"], offs + 1024)
    assert [c.decode() for c in d["chr"]] == names
    assert d["start"][0] == -(1024 - 60) // 2
    assert [t.decode() for t in d["target_ids"]] == ["CTCF", "CAGE+", "CAGE-"]
    assert d["chunk_done"].all()
    # TSV: per-window sums over bins
    lines = (tmp_path / "p.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["chr", "start", "end", "name", "strand", "CTCF", "CAGE+", "CAGE-"]
    row = lines[1].split("\t")
    np.testing.assert_allclose([float(v) for v in row[5:]], want[0].sum(0), rtol=1e-4)


def test_predict_bed_windows_centre_on_regions_with_genome_context(model, model_dir, tmp_path):
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.genomics.onehot import encode

    bed = tmp_path / "r.bed"
    bed.write_text("chr3\t5000\t5100\tenh1\t0\t-\nchr3\t100\t300\tnear_start\n")
    out = tmp_path / "b.h5"
    assert cli("predict", "--model", model_dir, "--bed", bed, "--genome", GENOME, "--quiet", "--float32",
               "--out", out) == 0
    d = read(out)
    np.testing.assert_array_equal(d["start"], [5050 - 512, 200 - 512])
    assert [g.decode() for g in d["gene"]] == ["enh1", "near_start"]
    assert [s.decode() for s in d["strand"]] == ["-", "."]
    with Genome(GENOME) as g:
        w0 = g.fetch("chr3", 5050 - 512, 5050 + 512).sequence
        w1 = g.fetch("chr3", 200 - 512, 200 + 512).sequence  # padded with N before the chromosome
        sizes = g.chrom_lengths
    assert w1.startswith("N" * 312)
    np.testing.assert_array_equal(d["seqs"][0], encode(w0) > 0.5)
    np.testing.assert_array_equal(d["seqs"][1], encode(w1) > 0.5)
    want = model.predict(np.stack([encode(w0), encode(w1)])).mean
    np.testing.assert_allclose(d["preds"], want, rtol=1e-5, atol=1e-6)
    assert dict(zip([n.decode() for n in d["chrom_names"]], d["chrom_lengths"].tolist())) == sizes


# ----------------------------------------------------------------------------------------
# attribute, resume, export

ATTR_ARGS = ("--targets", "6,7", "--method", "grad_x_input", "--positions", "center", "--statistic", "sum")


@pytest.fixture(scope="module")
def attribution_ready():
    pytest.importorskip("seqnn_engine.attribution.input_attr", reason="the attribution room is not in this build")


def test_attribute_fasta_equals_engine_attribute(attribution_ready, model, model_dir, tmp_path):
    out = tmp_path / "a.h5"
    assert cli("attribute", "--model", model_dir, "--fasta", PROMOTERS, *ATTR_ARGS, "--chunk-size", "2",
               "--float32", "--quiet", "--out", out) == 0
    d = read(out)
    x, offs, _ = onehot_windows(model, PROMOTERS)
    a = model.attribute(x, method="grad_x_input", targets=[6, 7], positions="center", statistic="sum")
    assert d["scores"].shape == (4, 1024, 4)
    np.testing.assert_allclose(d["scores"], a.scores, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(d["grads"], a.hypothetical, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(d["objective"], a.objective, rtol=1e-6)
    np.testing.assert_array_equal(d["seqs"], x > 0.5)
    np.testing.assert_array_equal(d["start"], offs)  # 4096 bp records cropped to the centre: offset 1536
    assert (offs == 1536).all()
    # the default storage is float16, as the reference's scores.h5
    out16 = tmp_path / "a16.h5"
    assert cli("attribute", "--model", model_dir, "--fasta", PROMOTERS, *ATTR_ARGS, "--quiet", "--out", out16) == 0
    d16 = read(out16)
    assert d16["scores"].dtype == np.float16
    np.testing.assert_allclose(d16["scores"].astype(np.float32), a.scores, rtol=2e-3, atol=1e-4)


def test_ism_engine_option_computes_the_same_scores(attribution_ready, model, model_dir, tmp_path, capsys):
    """--ism-engine full (every mutant predicted whole) equals the engine's incremental ISM."""
    out = tmp_path / "full.h5"
    assert cli("ism", "--model", model_dir, "--fasta", PROMOTERS, "--targets", "0", "--window", "700:706",
               "--ism-engine", "full", "--float32", "--quiet", "--out", out) == 0
    x, _, _ = onehot_windows(model, PROMOTERS)
    a = model.attribute(x, method="ism", targets=[0], window=(700, 706), ism_engine="incremental")
    d = read(out)
    assert np.abs(d["scores"]).max() > 1e-4
    np.testing.assert_allclose(d["scores"], a.scores, rtol=1e-4, atol=1e-4 * np.abs(a.scores).max())
    capsys.readouterr()
    assert cli("attribute", "--model", model_dir, "--fasta", PROMOTERS, "--targets", "0", "--ism-engine", "full",
               "--quiet", "--out", tmp_path / "sal.h5") == 2
    assert "--ism-engine" in capsys.readouterr().err


def test_ism_equals_engine_ism_and_exports_the_mean_delta(attribution_ready, model, model_dir, tmp_path):
    import pyBigWig

    out = tmp_path / "ism.h5"
    assert cli("ism", "--model", model_dir, "--fasta", PROMOTERS, "--targets", "0", "--window", "500:512",
               "--float32", "--quiet", "--out", out) == 0
    d = read(out)
    x, _, _ = onehot_windows(model, PROMOTERS)
    a = model.attribute(x, method="ism", targets=[0], window=(500, 512))
    np.testing.assert_allclose(d["scores"], a.scores, rtol=1e-5, atol=1e-6)
    assert np.count_nonzero(d["scores"][:, :500]) == 0 and np.count_nonzero(d["scores"][:, 500:512]) > 0
    bw = tmp_path / "ism.bw"
    assert cli("export", "--in", out, "--rows", "0", "--bigwig-out", bw, "--quiet") == 0
    f = pyBigWig.open(str(bw))
    try:
        chrom, s0 = d["chr"][0].decode(), int(d["start"][0])
        got = np.array(f.values(chrom, s0 + 500, s0 + 512))
    finally:
        f.close()
    np.testing.assert_allclose(got, -d["scores"][0, 500:512].sum(-1) / 3, rtol=1e-6, atol=1e-7)


def _run_killed(args, kill_after: int):
    env = dict(os.environ, SEQNN_ENGINE_TEST_KILL_AFTER_CHUNKS=str(kill_after), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "seqnn_engine", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_sigkill_then_resume_gives_the_uninterrupted_file(attribution_ready, model_dir, tmp_path):
    fasta = tmp_path / "many.fa"
    text = PROMOTERS.read_text() + MIXED.read_text()
    fasta.write_text(text)  # 9 records -> 9 rows, chunks of 2 -> 5 chunks
    common = ["attribute", "--model", model_dir, "--fasta", fasta, *ATTR_ARGS, "--chunk-size", "2", "--quiet"]
    full = tmp_path / "full.h5"
    assert cli(*common, "--out", full) == 0

    out = tmp_path / "killed.h5"
    partial = tmp_path / "killed.h5.partial"
    p = _run_killed(common + ["--out", out], kill_after=2)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert partial.exists() and not out.exists()
    with h5py.File(partial, "r") as f:
        assert f["chunk_done"][()].tolist() == [True, True, False, False, False]

    # options that differ from the interrupted run are refused, with one line
    assert cli(*common, "--out", out, "--resume", "--statistic", "log") == 2

    assert cli(*common, "--out", out, "--resume") == 0
    assert out.exists() and not partial.exists()
    a, b = read(full), read(out)
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # a finished file resumes to itself
    assert cli(*common, "--out", out, "--resume") == 0
    np.testing.assert_array_equal(read(out)["scores"], a["scores"])


def test_export_bigwig_reads_back_at_genome_coordinates(attribution_ready, model_dir, tmp_path):
    import pyBigWig

    bed = tmp_path / "r.bed"
    # two overlapping windows (averaged), one window past the chromosome start (padding dropped)
    bed.write_text("chr3\t20000\t20010\ta\nchr3\t20300\t20310\tb\nchr2\t10\t20\tc\n")
    h5 = tmp_path / "a.h5"
    assert cli("attribute", "--model", model_dir, "--bed", bed, "--genome", GENOME, *ATTR_ARGS, "--float32",
               "--quiet", "--out", h5) == 0
    bw = tmp_path / "a.bw"
    assert cli("export", "--in", h5, "--bigwig-out", bw, "--quiet") == 0
    d = read(h5)
    per_base = (d["grads"] * d["seqs"]).sum(-1)  # the present base's hypothetical score
    f = pyBigWig.open(str(bw))
    try:
        assert f.chroms() == {n.decode(): int(v) for n, v in zip(d["chrom_names"], d["chrom_lengths"])}
        s0, s1, s2 = (int(v) for v in d["start"])
        assert (s0, s1, s2) == (20005 - 512, 20305 - 512, 15 - 512)
        # only window 0 covers [s0, s1): its own values
        got = np.array(f.values("chr3", s0, s1), dtype=np.float64)
        np.testing.assert_allclose(got, per_base[0, : s1 - s0], rtol=1e-6, atol=1e-7)
        # both cover [s1, s0 + 1024): their mean
        got = np.array(f.values("chr3", s1, s0 + 1024))
        want = (per_base[0, s1 - s0:] + per_base[1, : s0 + 1024 - s1]) / 2
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        got = np.array(f.values("chr3", s0 + 1024, s1 + 1024))
        np.testing.assert_allclose(got, per_base[1, s0 + 1024 - s1:], rtol=1e-6, atol=1e-7)
        # chr2 starts at window position 512 - 15; nothing before the chromosome
        got = np.array(f.values("chr2", 0, s2 + 1024))
        np.testing.assert_allclose(got, per_base[2, -s2:], rtol=1e-6, atol=1e-7)
        assert np.isnan(f.values("chr3", s1 + 1024, s1 + 1030)).all()
    finally:
        f.close()


def test_export_bed_and_modisco(attribution_ready, model_dir, tmp_path):
    h5 = tmp_path / "a.h5"
    assert cli("attribute", "--model", model_dir, "--fasta", PROMOTERS, *ATTR_ARGS, "--float32", "--quiet",
               "--out", h5) == 0
    bed, prefix = tmp_path / "top.bed", tmp_path / "mod" / "run"
    prefix.parent.mkdir()
    assert cli("export", "--in", h5, "--rows", "1-2", "--bed-out", bed, "--top", "5",
               "--modisco-out", prefix, "--quiet") == 0
    d = read(h5)
    per_base = (d["grads"] * d["seqs"]).sum(-1)
    rows = [line.split("\t") for line in bed.read_text().splitlines()]
    assert len(rows) == 10
    for r, i in ((rows[:5], 1), (rows[5:], 2)):
        order = np.argsort(-np.abs(per_base[i]), kind="stable")[:5]
        assert [int(x[1]) for x in r] == (1536 + order).tolist()
        assert r[0][0] == d["chr"][i].decode() and r[0][3] == f"{d['gene'][i].decode()}:1"
    ohe = np.load(f"{prefix}.ohe.npz")["arr_0"]
    hyp = np.load(f"{prefix}.hyp.npz")["arr_0"]
    assert ohe.shape == hyp.shape == (2, 4, 1024)
    np.testing.assert_array_equal(ohe, d["seqs"][1:3].transpose(0, 2, 1).astype(np.float32))
    np.testing.assert_array_equal(hyp, d["grads"][1:3].transpose(0, 2, 1))
    coords = Path(f"{prefix}.coords.tsv").read_text().splitlines()
    assert coords[1].split("\t")[:4] == ["0", d["chr"][1].decode(), "1536", "2560"]


def test_merge_tracks_hand_case():
    from seqnn_engine.cli.tracks import merge_tracks

    # bins of 2 bp; rows on c1 overlap on [4, 6); row 2 starts before c2 (padding dropped)
    vals = np.array([[1.0, 1.0, 3.0], [5.0, np.nan, 7.0], [2.0, 4.0, 4.0]])
    got = merge_tracks(["c1", "c1", "c2"], [0, 4, -2], vals, 2, {"c1": 9, "c2": 100})
    assert got == [("c1", 0, 4, 1.0), ("c1", 4, 6, 4.0),            # (3 + 5) / 2
                   ("c1", 8, 9, 7.0),                                # NaN bin [6, 8) left out; clipped at 9
                   ("c2", 0, 4, 4.0)]


# ----------------------------------------------------------------------------------------
# genes


def test_genes_sum_tss_bins_with_strand_mask(model, model_dir, tmp_path):
    from seqnn_engine.genomics.genes import GeneSet, gene_window
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.genomics.onehot import encode

    gs = GeneSet.read(GTF)
    plus = next(g for g in gs if g.chrom == "chr3" and g.strand == "+" and len(g.tss_list) > 1)
    minus = next(g for g in gs if g.chrom == "chr3" and g.strand == "-")
    out, tsv = tmp_path / "g.h5", tmp_path / "g.tsv"
    assert cli("genes", "--model", model_dir, "--gtf", GTF, "--genome", GENOME, "--genes",
               f"{plus.gene_name},{minus.gene_id}", "--targets", "0,6,7", "--tss-radius", "1", "--save-preds",
               "--float32", "--quiet", "--out", out, "--tsv-out", tsv) == 0
    d = read(out)
    assert [g.decode() for g in d["gene"]] == [plus.gene_id, minus.gene_id]
    with Genome(GENOME) as genome:
        for i, g in enumerate((plus, minus)):
            gw = gene_window(g, 1024, 16, 4)
            assert d["start"][i] == gw.start and d["tss"][i] == g.primary_tss
            pred = model.predict(encode(genome.fetch("chr3", gw.start, gw.end).sequence)[None],
                                 target_indexes=[0, 6, 7]).mean[0]
            np.testing.assert_allclose(d["preds"][i], pred, rtol=1e-5, atol=1e-6)
            want = sum(pred[max(b - 1, 0): b + 2].sum(0) for b in gw.tss_bins)
            assert d["n_tss"][i] == len(gw.tss_bins) >= 1
            keep = [0, 1] if g.strand == "+" else [0, 2]    # CTCF unstranded; CAGE+ / CAGE-
            drop = 2 if g.strand == "+" else 1
            np.testing.assert_allclose(d["gene_values"][i, keep], want[keep], rtol=1e-5)
            assert np.isnan(d["gene_values"][i, drop])
    lines = tsv.read_text().splitlines()
    assert lines[0].split("\t") == ["gene_id", "gene_name", "chr", "tss", "strand", "CTCF", "CAGE+", "CAGE-"]
    assert lines[1].split("\t")[:2] == [plus.gene_id, plus.gene_name]


# ----------------------------------------------------------------------------------------
# result store and keys


def test_store_serves_repeat_runs_and_holds_what_the_dashboard_looks_up(model, model_dir, tmp_path, capsys):
    from seqnn_engine.batch.cache_keys import prediction_key
    from seqnn_engine.genomics.sequences import fit_sequence, read_fasta
    from seqnn_engine.batch.store import ResultStore

    store = tmp_path / "store"
    base = ["predict", "--model", model_dir, "--targets", "6,7", "--rc", "--float32", "--chunk-size", "3"]
    ref = tmp_path / "ref.h5"
    assert cli(*base, "--fasta", PROMOTERS, "--out", ref, "--quiet") == 0
    first = tmp_path / "first.h5"
    assert cli(*base, "--fasta", PROMOTERS, "--out", first, "--store", store) == 0
    assert "from the store" not in capsys.readouterr().err
    assert len(ResultStore(store)) == 4
    # a second job over the same windows plus new ones: 4 hits, 5 computed, same numbers
    both = tmp_path / "both.fa"
    both.write_text(MIXED.read_text() + PROMOTERS.read_text())
    second = tmp_path / "second.h5"
    assert cli(*base, "--fasta", both, "--out", second, "--store", store) == 0
    assert "4 from the store" in capsys.readouterr().err
    np.testing.assert_array_equal(read(second)["preds"][5:], read(ref)["preds"])
    np.testing.assert_array_equal(read(first)["preds"], read(ref)["preds"])
    # the entry the dashboard finds for a window holds the same prediction
    rec = read_fasta(PROMOTERS)[2]
    window = fit_sequence(rec, 1024).windows[0]
    hit = ResultStore(store).get(prediction_key(model, window.lower(), {"rc": True, "targets": [6, 7]}))
    assert hit is not None
    np.testing.assert_array_equal(hit["preds"], read(ref)["preds"][2])


def test_cache_keys_canonical_options_and_sequences(model):
    from seqnn_engine.batch.cache_keys import attribution_key, prediction_key

    s = "ACGTN" * 10
    k = prediction_key(model, s)
    assert k == prediction_key(model, s, {"rc": False, "shifts": (0,), "mc_seed": 5})  # seed unused without MC
    assert k == prediction_key(model, s.lower().replace("N", "R"))                        # same one-hot
    assert k != prediction_key(model, s, {"n_value": 0.25})                               # N encoding matters
    assert k != prediction_key(model, s, {"rc": True})
    assert k != prediction_key(model, s[:-1] + "A")
    assert k != attribution_key(model, s)
    a = attribution_key(model, s, {"method": "saliency", "targets": [6, 7]})
    assert a == attribution_key(model, s, {"targets": np.array([6, 7]), "mean_center": True})
    assert a == attribution_key(model, s, {"targets": [7, 6]})  # the objective's mean ignores order
    assert a != attribution_key(model, s, {"targets": [6]})
    # predictions keep the target order (it is the column order of the stored array)
    assert prediction_key(model, s, {"targets": [6, 7]}) != prediction_key(model, s, {"targets": [7, 6]})

    class Other:
        digest, strand_pair = model.digest, None
    assert prediction_key(Other(), s) != k  # strand pairs change RC ensembles


# ----------------------------------------------------------------------------------------
# errors: one line on stderr, non-zero exit, no traceback


@pytest.mark.parametrize("args,msg", [
    (["predict", "--fasta", "missing.fa"], "FASTA file not found"),
    (["predict", "--fasta", MIXED, "--targets", "x"], "--targets must be indexes"),
    (["predict", "--fasta", MIXED, "--targets", "9"], "target index 9 out of range"),
    (["predict", "--fasta", MIXED, "--bed", "r.bed"], "exactly one input"),
    (["predict", "--bed", "REGIONS"], "needs --genome"),
    (["attribute", "--fasta", MIXED, "--positions", "bins 5:500"], "output bins"),
    (["predict", "--fasta", MIXED, "--mc", "2", "--store", "S"], "--store cannot be used with --mc"),
    (["genes", "--gtf", GTF, "--genome", GENOME, "--genes", "NOPE"], "not in the annotation"),
    (["variants", "--vcf", "VCF", "--genome", GENOME], "POS"),
    (["export", "--in", "PRED", "--bigwig-out", "x.bw"], "no 'scores' or 'grads'"),
    (["predict", "--fasta", MIXED, "--executor", "local", "--address", "auto"], "--address needs --executor ray"),
])
def test_bad_input_one_line_nonzero(model_dir, tmp_path, capsys, args, msg):
    bed = tmp_path / "r.bed"
    bed.write_text("chr3\t10\t20\n")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\nchr3\tten\t.\tA\tC\n")
    pred = tmp_path / "pred.h5"
    if "PRED" in args:
        assert cli("predict", "--model", model_dir, "--fasta", MIXED, "--quiet", "--out", pred) == 0
    sub = {"REGIONS": bed, "VCF": vcf, "PRED": pred, "S": tmp_path / "s", "missing.fa": tmp_path / "missing.fa"}
    args = [sub.get(a, a) if isinstance(a, str) else a for a in args]
    has_model = args[0] != "export"
    rc = cli(*args, *(["--model", model_dir, "--out", tmp_path / "o.h5"] if has_model else []))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("error: ") and msg in err[0], err


def test_bad_input_from_a_real_process_has_no_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "seqnn_engine", "predict", "--model", str(tmp_path / "nope"),
                        "--fasta", str(MIXED), "--out", str(tmp_path / "o.h5")], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [f"error: model directory not found: {tmp_path / 'nope'}"]


def test_demo_model_predicts_when_present(tmp_path):
    if not (DEMO / "manifest.json").exists():
        pytest.skip("the demo model (assets/demo/manifest.json) is not trained in this checkout")
    out = tmp_path / "demo.h5"
    assert cli("predict", "--model", DEMO, "--fasta", PROMOTERS, "--quiet", "--out", out) == 0
    d = read(out)
    assert d["preds"].shape[0] == 4 and np.isfinite(d["preds"].astype(np.float32)).all()
