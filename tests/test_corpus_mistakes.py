"""A fixed corpus of real-world mistakes users make with their files. Each one either works (when the
mistake is harmless, e.g. Windows line endings) with exactly the result of the clean file, or is
refused with an InputError that says what is wrong; never any other exception.

Corpus: the wrong model's weights (a different architecture; ../shared/compat small vs tx when present),
a truncated .h5, a Keras 3 ``.keras`` zip or a text file given as weights, Windows line endings and
a byte-order mark in FASTA / GTF / targets.txt / VCF, a protein FASTA, a FASTA saved as UTF-16, empty
records, 0-length and 10-Mb sequences, spreadsheet-pasted sequences, a params.json with a training-only
section, a GTF with a chromosome the genome lacks, a VCF with a bad line. The last tests check that
the dashboard shows these refusals as errors and keeps working (AppTest).
"""
from __future__ import annotations

import gzip
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_path
from seqnn_engine import InputError
from seqnn_engine.genomics.sequences import fit_sequence, parse_fasta

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo"


def refused(fn, *args, match: str | None = None, **kw) -> str:
    """Call fn, which must raise InputError (matching ``match``); returns the message."""
    with pytest.raises(InputError) as e:
        fn(*args, **kw)
    msg = str(e.value)
    assert msg.strip() and "Traceback" not in msg
    if match is not None:
        assert match.lower() in msg.lower(), msg
    return msg


# ----------------------------------------------------------------------------------- weights / params

@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    """A copy of the demo model's params/targets/weights plus a small different model's weights."""
    import keras

    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import save_weights
    d = tmp_path_factory.mktemp("demo")
    for f in ("params.json", "targets.txt", "model.weights.h5"):
        shutil.copy(DEMO / f, d / f)
    other = json.loads((DEMO / "params.json").read_text())
    other["model"]["trunk"][0]["filters"] = 32          # same blocks, one layer narrower
    keras.utils.set_random_seed(0)
    net = build_network(parse_params(other), 0)
    save_weights(net.layers, d / "other.weights.h5")
    return d


def test_wrong_models_weights_demo(demo_files):
    from seqnn_engine import load_model
    d = demo_files
    msg = refused(load_model, d / "params.json", d / "other.weights.h5", match="match params.json")
    assert "(15, 4, 48)" in msg and "(15, 4, 32)" in msg   # names the first layer whose shape differs


def test_wrong_models_weights_compat_small_vs_tx():
    """Weights of the reference 'tx' model into the 'small' architecture and back (legacy Keras 2 files)."""
    from seqnn_engine import load_model
    small = shared_path("compat", "small")
    tx = shared_path("compat", "tx")
    for params, weights in ((small / "params.json", tx / "model0.h5"), (tx / "params.json", small / "model0.h5"),
                            (small / "params.json", tx / "model0.weights.h5")):
        msg = refused(load_model, params, weights, match="does not match params.json")
        assert "Check that the weights were trained with this params.json" in msg
    # the tx model's head 1 weights do not fit head 0
    refused(load_model, tx / "params.json", tx / "model1.h5", head=0, match="does not match")


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.5, 0.99])
def test_truncated_weights(demo_files, tmp_path, fraction):
    from seqnn_engine import load_model
    data = (demo_files / "model.weights.h5").read_bytes()
    w = tmp_path / "model.weights.h5"
    w.write_bytes(data[:int(len(data) * fraction)])
    msg = refused(load_model, demo_files / "params.json", w)
    assert "model.weights.h5" in msg
    assert any(s in msg for s in ("empty", "truncated", "damaged", "not a readable HDF5")), msg


def test_truncated_legacy_weights(tmp_path):
    from seqnn_engine import load_model
    small = shared_path("compat", "small")
    data = (small / "model0.h5").read_bytes()
    w = tmp_path / "model0.h5"
    w.write_bytes(data[:len(data) * 3 // 4])
    refused(load_model, small / "params.json", w)


def test_not_a_weights_file(demo_files, tmp_path):
    from seqnn_engine import load_model
    p = demo_files / "params.json"
    keras_zip = tmp_path / "model.keras"        # a Keras 3 full-model archive is a zip, not HDF5
    import zipfile
    with zipfile.ZipFile(keras_zip, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\x89HDF")
    refused(load_model, p, keras_zip, match="not a readable HDF5")
    refused(load_model, p, p, match="not a readable HDF5")               # params.json given as weights
    import h5py
    with h5py.File(tmp_path / "data.h5", "w") as f:                       # an HDF5 data file, not weights
        f["test_in"] = np.zeros((1, 4, 4), bool)
    refused(load_model, p, tmp_path / "data.h5", match="holds no Keras weights")
    refused(load_model, p, tmp_path / "missing.h5", match="not found")


def test_params_with_training_only_section(demo_files, tmp_path):
    """The demo params.json has a top-level 'train' section: ignored without any warning; a training key
    put inside 'model' is reported as a ParamsWarning and the model still loads, identical."""
    from seqnn_engine import load_model
    from seqnn_engine.model.spec import ParamsWarning
    d = demo_files
    params = json.loads((d / "params.json").read_text())
    assert "train" in params
    with warnings.catch_warnings():
        warnings.simplefilter("error", ParamsWarning)
        m1 = load_model(d / "params.json", d / "model.weights.h5")
    stripped = {"model": params["model"]}
    (tmp_path / "p.json").write_text(json.dumps(stripped))
    m2 = load_model(tmp_path / "p.json", d / "model.weights.h5")
    inner = {"model": {**params["model"], "loss": "poisson", "learning_rate": 0.002}}
    (tmp_path / "p2.json").write_text(json.dumps(inner))
    with pytest.warns(ParamsWarning, match="learning_rate"):
        m3 = load_model(tmp_path / "p2.json", d / "model.weights.h5")
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (1, m1.seq_length))]
    p1 = m1.predict(x).mean
    np.testing.assert_array_equal(p1, m2.predict(x).mean)
    np.testing.assert_array_equal(p1, m3.predict(x).mean)


def test_params_mistakes(tmp_path):
    from seqnn_engine.model.spec import parse_params
    cases = {
        "trailing comma": ('{"model": {"seq_length": 4096,}}', "not valid JSON"),
        "training file only": ('{"train": {"batch_size": 4}}', "no 'model' section"),
        "empty file": ("", "not valid JSON"),
        "no trunk": ('{"model": {"seq_length": 4096, "head": {"name": "final", "units": 1}}}', "trunk"),
        "no head": ('{"model": {"seq_length": 4096, "trunk": [{"name": "conv_dna"}]}}', "no head"),
        "utf-16": ('{"model": {}}'.encode("utf-16"), "cannot read params"),
    }
    for name, (text, match) in cases.items():
        p = tmp_path / f"{name}.json"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        refused(parse_params, p, match=match)


# ----------------------------------------------------------------------------------- FASTA

def test_fasta_windows_line_endings_and_bom():
    clean = ">s1 first\nACGTN\nacgt\n>s2\nGGGG\n"
    for dirty in (clean.replace("\n", "\r\n"), clean.replace("\n", "\r"), "\ufeff" + clean.replace("\n", "\r\n")):
        for data in (dirty, dirty.encode("utf-8")):
            assert parse_fasta(data) == parse_fasta(clean)
    assert parse_fasta(gzip.compress(clean.replace("\n", "\r\n").encode())) == parse_fasta(clean)


def test_fasta_protein():
    protein = ">sp|P69905|HBA_HUMAN Hemoglobin subunit alpha\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF\n"
    msg = refused(parse_fasta, protein, match="protein")
    assert "sp|P69905|HBA_HUMAN" in msg and "'L'" in msg


def test_fasta_utf16_from_a_windows_editor():
    refused(parse_fasta, ">a\r\nACGT\r\n".encode("utf-16"), match="not text")


def test_fasta_empty_records_and_zero_length():
    refused(parse_fasta, ">a\n>b\nACGT\n", match="record 'a' (line 1) has no sequence")
    refused(parse_fasta, ">a\nACGT\n>b\n", match="record 'b' (line 3) has no sequence")
    refused(parse_fasta, "", match="empty")
    refused(parse_fasta, b"", match="empty")
    refused(parse_fasta, "\n\n  \r\n", match="empty")
    refused(parse_fasta, ">\nACGT\n", match="has no name")
    refused(fit_sequence, "", 4096, match="empty")


def test_fasta_pasted_from_a_spreadsheet():
    # two columns (name <TAB> sequence) copied from a spreadsheet: not FASTA
    refused(parse_fasta, "seq1\tACGTACGT\nseq2\tGGCCAATT\n", match="invalid character")
    # a quoted cell
    refused(parse_fasta, '"ACGTACGT"\n', match="invalid character '\"'")
    # a sequence broken over lines with spaces and numbers (GenBank ORIGIN style)
    refused(parse_fasta, "1 acgtacgtac gtacgt\n61 acgt\n", match="invalid character '1'")
    # only spaces and tabs inside sequence lines are harmless
    assert parse_fasta(">a\nAC GT\tAC\n")[0].sequence == "ACGTAC"


def test_fasta_ten_megabases_refused_with_the_limit():
    seq = "ACGT" * 2_500_000
    msg = refused(parse_fasta, ">big\n" + seq + "\n", match="SEQNN_MAX_SEQUENCE_BP")
    assert "max_sequence_bp" in msg and "big" in msg


def test_fasta_gzip_truncated():
    data = gzip.compress((">a\n" + "ACGT" * 10_000 + "\n").encode())
    refused(parse_fasta, data[: len(data) // 2], match="corrupt or truncated")


# ----------------------------------------------------------------------------------- targets.txt

def test_targets_windows_line_endings_and_excel_bom():
    from seqnn_engine.model.targets import parse_targets
    clean = (DEMO / "targets.txt").read_text()
    t0 = parse_targets(clean)
    for dirty in (clean.replace("\n", "\r\n"), "\ufeff" + clean.replace("\n", "\r\n")):
        t = parse_targets(dirty)
        assert list(t.identifier) == list(t0.identifier) and list(t.description) == list(t0.description)
        np.testing.assert_array_equal(np.asarray(t.scale), np.asarray(t0.scale))
        np.testing.assert_array_equal(np.asarray(t.strand_pair), np.asarray(t0.strand_pair))


def test_targets_mistakes():
    from seqnn_engine.model.targets import parse_targets
    refused(parse_targets, "", match="")
    # saved by a spreadsheet with commas instead of tabs
    refused(parse_targets, ",identifier,file\n0,CTCF,x.bw\n")
    # a scale that is not a number
    clean = (DEMO / "targets.txt").read_text().splitlines()
    cells = clean[1].split("\t")
    cells[5] = "one"
    refused(parse_targets, "\n".join([clean[0], "\t".join(cells)]) + "\n", match="line 2")


# ----------------------------------------------------------------------------------- GTF

def test_gtf_windows_line_endings():
    from seqnn_engine.genomics.genes import GeneSet
    text = "\n".join((DEMO / "genes.gtf").read_text().splitlines()[:60]) + "\n"
    g0 = GeneSet.parse(text)
    g1 = GeneSet.parse(text.replace("\n", "\r\n"))
    assert [(g.gene_id, g.chrom, g.start, g.end, g.strand, g.tss_list, g.exons) for g in g0] == \
           [(g.gene_id, g.chrom, g.start, g.end, g.strand, g.tss_list, g.exons) for g in g1]


def test_gtf_unknown_chromosome():
    """A gene on a chromosome the genome lacks parses, but fetching its window is refused by name."""
    from seqnn_engine.genomics.genes import GeneSet, gene_window
    from seqnn_engine.genomics.genome import Genome
    gtf = ('chrZ\tsrc\tgene\t1000\t2000\t.\t+\t.\tgene_id "GZ"; gene_name "ZZZ";\n'
           'chrZ\tsrc\ttranscript\t1000\t2000\t.\t+\t.\tgene_id "GZ"; transcript_id "TZ";\n'
           'chrZ\tsrc\texon\t1000\t2000\t.\t+\t.\tgene_id "GZ"; transcript_id "TZ";\n')
    g = GeneSet.parse(gtf).get("ZZZ")
    gw = gene_window(g, 4096, 32, 8)
    with Genome(DEMO / "genome.fa.gz") as gen:
        msg = refused(gen.fetch, gw.chrom, gw.start, gw.end, match="chrZ")
    assert "chr1" in msg  # lists known names


# ----------------------------------------------------------------------------------- VCF

def test_vcf_bad_lines():
    from seqnn_engine.io.vcf import parse_vcf
    head = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n"
    good = "chr1\t100\trs1\tA\tG\n"
    assert len(parse_vcf(head + good)) == 1
    assert len(parse_vcf((head + good).replace("\n", "\r\n"))) == 1
    cases = {
        "chr1\t100\trs1\tA\n": "line 4: expected at least 5",
        "chr1\t1,000\trs1\tA\tG\n": "line 4: POS '1,000'",
        "chr1\t0\trs1\tA\tG\n": "line 4: POS 0",
        "chr1\t100\trs1\tA\t<DEL>\n": "symbolic",
        "chr1\t100\trs1\tA\tA\n": "equals REF",
        "chr1\t100\trs1\tZ\tG\n": "REF 'Z'",
    }
    for bad, match in cases.items():
        refused(parse_vcf, head + good + bad, match=match)
    refused(parse_vcf, head, match="no variant records")


# ----------------------------------------------------------------------------------- the dashboard shows them

@pytest.fixture(scope="module")
def app_env(tmp_path_factory):
    pytest.importorskip("streamlit.testing.v1")
    from test_app_support import dashboard_env
    with dashboard_env(tmp_path_factory) as env:
        yield env


def _fasta_app(app_env):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=180)
    at.session_state["model_path"] = str(app_env["model_dir"])
    at.run()
    assert not at.exception
    at.radio(key="input_mode").set_value("FASTA").run()
    assert not at.exception
    return at


def test_app_shows_corpus_errors_and_keeps_working(app_env):
    """Protein, empty-record, UTF-16 and 10-Mb FASTA uploads each show an st.error naming the problem, no
    exception; a Windows-line-ending upload then works."""
    at = _fasta_app(app_env)
    bad = {
        "protein.fa": (b">HBA\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF\n", "protein"),
        "empty.fa": (b">a\n>b\nACGT\n", "has no sequence"),
        "utf16.fa": (">a\r\nACGT\r\n".encode("utf-16"), "not text"),
        "big.fa": (b">big\n" + b"ACGT" * 2_600_000 + b"\n", "SEQNN_MAX_SEQUENCE_BP"),
    }
    for name, (data, match) in bad.items():
        at.file_uploader(key="fasta_upload").set_value((name, data, "text/plain")).run()
        assert not at.exception, [e.value for e in at.exception]
        errors = [e.value for e in at.sidebar.error]
        assert any(match in e and name in e for e in errors), (name, errors)
    good = (">win test\r\n" + "ACGT" * 1000 + "\r\n").encode()
    at.file_uploader(key="fasta_upload").set_value(("windows.fa", good, "text/plain")).run()
    assert not at.exception and not at.sidebar.error, [e.value for e in at.sidebar.error]
    assert at.get("plotly_chart"), "the page draws its charts for the CRLF upload"
