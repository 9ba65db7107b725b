"""End to end on the demo: attribute (saliency) on held-out demo windows -> seqlets BED -> TF-MoDISco DIR."""
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from seqnn_engine.cli import main
from tools.demo import demo_dir
from tools.demo.motifs import load_motifs as demo_motifs
from seqnn_engine.motifs.meme import read_meme

REPO = Path(__file__).resolve().parents[1]
N_WINDOWS = 40
L = 4096
BED_HEADER = "#chrom\tstart\tend\tname\tscore\tstrand\tp_value\tmotif_ids\tmatch_q"


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    d = tmp_path_factory.mktemp("motifs_cli")
    bed = d / "windows.bed"
    # held-out chr3 tiles (the ground-truth windows); BED midpoints -> model windows of 4096 bp
    bed.write_text("".join(f"chr3\t{i * L}\t{(i + 1) * L}\tw{i}\n" for i in range(N_WINDOWS)))
    out = d / "scores.h5"
    # the objective: all output bins of the mean of the 4 driver tracks (every planted driver counts)
    assert main(["attribute", "--model", str(demo_dir()), "--bed", str(bed), "--targets", "0-3",
                 "--method", "saliency", "--out", str(out), "--quiet"]) == 0
    return d, out


def _bed_rows(path):
    lines = Path(path).read_text().splitlines()
    return lines[0], [ln.split("\t") for ln in lines[1:]]


def test_seqlets_bed_in_genome_coordinates(scores):
    d, h5 = scores
    out, tsv = d / "seqlets.bed", d / "seqlets.tsv"
    assert main(["seqlets", "--in", str(h5), "--out", str(out), "--tsv", str(tsv), "--quiet"]) == 0
    header, rows = _bed_rows(out)
    assert header == BED_HEADER
    assert len(rows) >= 2 * N_WINDOWS
    driver_ids = {m.matrix_id for m in demo_motifs().values() if m.role == "driver"}
    named_driver = 0
    for r in rows:
        assert len(r) == 9 and r[0] == "chr3"
        s, e = int(r[1]), int(r[2])
        assert 0 <= s < e <= N_WINDOWS * L and e - s <= 2 * 30 + 5   # joined spans: 2 x max_len + merge_gap
        assert np.isfinite(float(r[4])) and 0 <= float(r[6]) <= 1
        ids = r[7].split(",") if r[7] != "." else []
        assert len(ids) <= 3 and (r[3] == ".") == (not ids) and (r[5] == ".") == (not ids)
        assert r[5] in "+-." and len(r[8].split(",")) == max(1, len(ids))
        named_driver += bool(set(ids) & driver_ids) and float(r[4]) > 0
    assert named_driver >= N_WINDOWS     # the planted drivers are found and named
    # BED coordinates are the windows' genome start + the input positions of the TSV
    with h5py.File(h5, "r") as f:
        starts = f["start"][()]
    t = [ln.split("\t") for ln in tsv.read_text().splitlines()]
    cols = t[0]
    for row, b in zip(t[1:], rows):
        rec = dict(zip(cols, row))
        assert int(rec["genome_start"]) == starts[int(rec["seq"])] + int(rec["start"]) == int(b[1])
        assert rec["targets"] == "CTCF,SPI1,CEBPB,REST" and rec["objective"].startswith("sum over all bins")


def test_motifs_dir_has_all_outputs(scores):
    d, h5 = scores
    out = d / "modisco"
    assert main(["motifs", "--in", str(h5), "--out", str(out), "--quiet"]) == 0
    for name in ("modisco.h5", "report.html", "motifs.meme", "matches.tsv", "seqlets.bed"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    lines = (out / "matches.tsv").read_text().splitlines()
    assert lines[0] == "pattern\tn_seqlets\tmotif_ids\tmotif_names\tq_values"
    rows = [ln.split("\t") for ln in lines[1:]]
    assert len(rows) >= 2
    with h5py.File(out / "modisco.h5", "r") as f:
        n_h5 = {f"{g[:3]}_{k.split('_')[-1]}": int(f[g][k]["seqlets"]["n_seqlets"][0])
                for g in ("pos_patterns", "neg_patterns") if g in f for k in f[g]}
    assert {r[0]: int(r[1]) for r in rows} == n_h5
    driver_ids = {m.matrix_id for m in demo_motifs().values() if m.role == "driver"}
    found = set()
    for r in rows:
        found |= set(r[2].split(",")) & driver_ids
    assert len(found) >= 2                      # at least two driver motifs rediscovered and named
    meme = read_meme(out / "motifs.meme")
    assert meme.ids == [r[0] for r in rows]
    header, bed = _bed_rows(out / "seqlets.bed")
    assert header == "#chrom\tstart\tend\tname\tscore\tstrand"
    assert len(bed) == sum(n_h5.values())
    assert all(r[0] == "chr3" and 0 <= int(r[1]) < int(r[2]) <= N_WINDOWS * L and r[3] in n_h5 for r in bed)
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 2 * len(rows) and all(r[0] in html for r in rows)


def _cli_subprocess(*args):
    return subprocess.run([sys.executable, "-m", "seqnn_engine", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_bad_input_exits_2_with_one_line(scores, tmp_path):
    d, h5 = scores
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 2\n0.5 0.5 0\n")
    for args in (["seqlets", "--in", h5, "--out", tmp_path / "x.bed", "--motifs", bad],
                 ["seqlets", "--in", tmp_path / "missing.h5", "--out", tmp_path / "x.bed"],
                 ["motifs", "--in", h5, "--out", tmp_path / "m", "--motifs", bad]):
        p = _cli_subprocess(*args)
        assert p.returncode == 2, p.stderr
        err = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert len(err) == 1 and err[0].startswith("error:"), p.stderr


def test_seqlets_verify_knockout_round_trip(scores, capsys):
    d, h5 = scores
    base = ["seqlets", "--in", str(h5), "--rows", "0-3", "--no-match", "--quiet"]
    plain_bed, plain_tsv = d / "plain4.bed", d / "plain4.tsv"
    assert main(base + ["--out", str(plain_bed), "--tsv", str(plain_tsv)]) == 0
    bed, tsv, vbed, vtsv = d / "ko.bed", d / "ko.tsv", d / "ko_only.bed", d / "ko_only.tsv"
    ko = ["--verify", "knockout", "--model", str(demo_dir()), "--ko-shuffles", "1", "--ko-null", "5"]
    assert main(base + ko + ["--out", str(bed), "--tsv", str(tsv)]) == 0
    # the BED keeps its columns and rows; the TSV gains the knock-out columns
    assert bed.read_text() == plain_bed.read_text()
    rows = [ln.split("\t") for ln in tsv.read_text().splitlines()]
    plain = [ln.split("\t") for ln in plain_tsv.read_text().splitlines()]
    assert rows[0] == plain[0] + ["ko_effect", "ko_p", "ko_q", "verified"]
    assert [r[:len(plain[0])] for r in rows[1:]] == plain[1:] and len(rows) > 5
    recs = [dict(zip(rows[0], r)) for r in rows[1:]]
    for r in recs:
        sign, eff, p, q = int(r["sign"]), float(r["ko_effect"]), float(r["ko_p"]), float(r["ko_q"])
        assert 1 / (1 + 4 * 5) - 1e-6 <= p <= 1 and p <= q + 1e-9
        assert int(r["verified"]) == int(q <= 0.05 and sign * eff < 0)
    # the driver motifs the objective sums over are verified; knocking them out lowers the objective
    assert sum(int(r["verified"]) and int(r["sign"]) > 0 for r in recs) >= 4
    # --ko-min-share: the same knock-outs (same seed), and also -sign x effect >= R x |score|
    stsv = d / "ko_share.tsv"
    assert main(base + ko + ["--ko-min-share", "0.3", "--out", str(d / "ko_share.bed"), "--tsv", str(stsv)]) == 0
    srecs = [dict(zip(rows[0], ln.split("\t"))) for ln in stsv.read_text().splitlines()[1:]]
    assert [r["ko_effect"] for r in srecs] == [r["ko_effect"] for r in recs]
    for r, s in zip(recs, srecs):
        want = r["verified"] == "1" and -int(r["sign"]) * float(r["ko_effect"]) >= 0.3 * abs(float(r["score"]))
        assert int(s["verified"]) == int(want)
    assert main(base + ko + ["--out", str(vbed), "--tsv", str(vtsv), "--verified-only"]) == 0
    kept = [r for r in recs if r["verified"] == "1"]
    only = [ln.split("\t") for ln in vbed.read_text().splitlines()]
    assert only[0] == BED_HEADER.split("\t") and len(only) == 1 + len(kept)
    assert [(int(b[1]), int(b[2])) for b in only[1:]] == [(int(r["genome_start"]), int(r["genome_end"])) for r in kept]
    # the scores file records its model's digest: another model is refused, and so is a missing one
    capsys.readouterr()
    assert main(base + ["--verify", "knockout", "--model", str(demo_dir()), "--random-weights",
                        "--out", str(d / "x.bed")]) == 2
    assert "computed with model" in capsys.readouterr().err
    assert main(base + ["--verify", "knockout", "--out", str(d / "x.bed")]) == 2
    assert main(base + ["--verified-only", "--out", str(d / "x.bed")]) == 2
