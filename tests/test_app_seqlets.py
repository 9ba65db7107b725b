"""Seqlets and motifs in the dashboard (AppTest on the bundled demo model, no browser).

Truth is independent of the page: the planted sites of the demo genome (assets/demo/motif_sites.bed,
read here as text) and their JASPAR IDs (tools/demo/jaspar_2024.json), the demo window's
coordinates, and the engine's FIMO scan of the same window.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from test_app_support import DEMO, REPO

pytest.importorskip("streamlit.testing.v1")
pytest.importorskip("memelite")
pytest.importorskip("seqnn_engine.motifs.annotate")
from streamlit.testing.v1 import AppTest  # noqa: E402

MAIN = str(REPO / "app" / "main.py")
GENE = "DMG129"                      # the demo's default gene: chr3, planted CEBPB and SPI1 sites upstream
WINDOW = ("chr3", 23651, 27747)      # its model window (also the DMG129_TSS record of promoter_windows.fa)
MARGIN = 10                          # app.views.seqlets.SEQLET_ZOOM_MARGIN

pytestmark = pytest.mark.skipif(not (DEMO / "manifest.json").exists(), reason="the demo model is not trained")


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seqlets")
    (tmp / "none.toml").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQNN_MODEL_ROOTS", "")
        mp.setenv("SEQNN_STORE_DIR", str(tmp / "store"))
        mp.setenv("SEQNN_DASHBOARD_CONFIG", str(tmp / "none.toml"))
        yield tmp


def planted_sites(chrom: str, lo: int, hi: int) -> list[tuple]:
    """(start, end, motif, strand, role, JASPAR id) of every planted site inside [lo, hi)."""
    ids = {k: v["matrix_id"] for k, v in _jaspar_entries().items()}
    out = []
    for line in (DEMO / "motif_sites.bed").read_text().splitlines():
        c, s, e, name, _, strand, role = line.split("\t")
        if c == chrom and int(s) >= lo and int(e) <= hi:
            out.append((int(s), int(e), name, strand, role, ids[name]))
    return out


def _jaspar_entries() -> dict:
    d = json.loads((REPO / "tools" / "demo" / "jaspar_2024.json").read_text())
    return {m["name"]: m for m in d["motifs"]}


def no_problems(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def seqlet_frame(at):
    frames = [df.value for df in at.dataframe if "ID 1" in df.value.columns]
    assert len(frames) == 1, "the seqlet table is on the page"
    return frames[0]


def chart(at, key: str) -> dict:
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith(f"-{key}"):
            return json.loads(el.proto.spec)
    raise AssertionError(f"no chart {key!r}")


def trace(spec: dict, name: str) -> dict | None:
    return next((tr for tr in spec["data"] if tr.get("name") == name), None)


def row_ids(row) -> list[str]:
    return [row[f"ID {j}"] for j in (1, 2, 3) if row[f"ID {j}"]]


def test_gene_seqlets_table_zoom_downloads_fimo_and_meme_upload(demo_env):
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.motifs.fimo import fimo_scan
    from seqnn_engine.motifs.meme import jaspar, meme_text
    from seqnn_engine.genomics.onehot import encode

    at = AppTest.from_file(MAIN, default_timeout=600)
    at.run()
    no_problems(at)
    assert at.selectbox(key="gene").value.startswith("DEMOG00129")
    df = seqlet_frame(at)
    assert len(df) >= 2
    assert (df["chrom"] == WINDOW[0]).all()
    assert ((df["start"] >= WINDOW[1]) & (df["end"] <= WINDOW[2]) & (df["end"] > df["start"])).all()

    # every planted driver site in the output span that a seqlet overlaps is named with its JASPAR ID
    chrom, w0, w1 = WINDOW
    crop = 8 * 32
    drivers = [s for s in planted_sites(chrom, w0 + crop, w1 - crop) if s[4] == "driver"]
    recovered = 0
    for s, e, name, _, _, mid in drivers:
        over = df[(df["start"] < e) & (df["end"] > s)]
        if len(over):
            recovered += 1
            assert any(mid in row_ids(r) for _, r in over.iterrows()), (name, mid, over.to_dict("records"))
    assert recovered >= 2, f"{recovered} of {len(drivers)} planted driver sites have a seqlet"

    # boxes labelled with the best match on the contribution track and on the logo
    labels = trace(chart(at, "contrib"), "seqlet labels")
    assert labels is not None
    best = [r["match 1"] or "?" for _, r in df.iterrows()]
    assert sorted(labels["text"]) == sorted(best)

    # BED and TSV downloads hold the table's rows, in genome coordinates
    reg = at.session_state["downloads"]["seqlets"]
    bed = reg["seqlets_bed"].make().splitlines()
    assert bed[0].startswith("#chrom\tstart\tend\tname\tscore\tstrand\tp_value\tmotif_ids\tmatch_q")
    rows = [ln.split("\t") for ln in bed[1:]]
    assert len(rows) == len(df)
    for f, (_, r) in zip(rows, df.iterrows()):
        assert (f[0], int(f[1]), int(f[2])) == (r["chrom"], int(r["start"]), int(r["end"]))
        assert f[3] == (r["match 1"] or ".")
        assert f[7] == (",".join(row_ids(r)) or ".")
        assert float(f[4]) == pytest.approx(r["score"], rel=1e-5)
    tsv = reg["seqlets_tsv"].make().splitlines()
    head = tsv[0].split("\t")
    recs = [dict(zip(head, ln.split("\t"))) for ln in tsv[1:]]
    assert len(recs) == len(df)
    for rec, (_, r) in zip(recs, df.iterrows()):
        assert (int(rec["genome_start"]), int(rec["genome_end"])) == (int(r["start"]), int(r["end"]))
        assert (int(rec["start"]), int(rec["end"])) == (int(r["start"]) - w0, int(r["end"]) - w0)  # window positions
        assert float(rec["p_value"]) == pytest.approx(r["p-value"], rel=1e-4)

    # picking a row zooms the selected range (and the logo) to that seqlet
    spi1 = next(i for i, (_, r) in enumerate(df.iterrows()) if "MA0080.7" in row_ids(r))
    want = (int(df["start"].iloc[spi1]) - MARGIN, int(df["end"].iloc[spi1]) + MARGIN)
    assert at.slider(key="range_slider").value != want
    at.session_state["seqlet_table"] = {"selection": {"rows": [spi1]}}
    at.run()
    no_problems(at)
    assert at.slider(key="range_slider").value == want
    logo = chart(at, "logo")
    assert logo["layout"]["title"]["text"] == f"Sequence logo {want[0]:,}-{want[1]:,}"
    assert df["match 1"].iloc[spi1] in trace(logo, "seqlet labels")["text"]
    at.run()                                            # the same pick does not re-zoom after a slider move
    at.slider(key="range_slider").set_value((want[0] - 50, want[1])).run()
    no_problems(at)
    assert at.slider(key="range_slider").value == (want[0] - 50, want[1])

    # FIMO hits of a chosen motif: the engine's scan of the same window, drawn on genome coordinates
    at.multiselect(key="fimo_motifs").set_value(["MA0080.7"]).run()
    no_problems(at)
    fig = chart(at, "fimo")
    seq = Genome(DEMO / "genome.fa.gz").fetch(chrom, w0, w1).sequence
    ref = fimo_scan(encode(seq), jaspar(), select=["MA0080.7"])
    xs = [v for tr in fig["data"] for v in tr["x"] if v is not None]
    assert sorted(xs) == sorted([v for s, e in zip(ref.start, ref.end) for v in (w0 + s - 0.5, w0 + e - 0.5)])
    spi1_site = next(s for s in drivers if s[2] == "SPI1")
    assert any(w0 + s < spi1_site[1] and w0 + e > spi1_site[0] for s, e in zip(ref.start, ref.end))

    # a malformed MEME file: an error naming it, and the table stays as it was
    before = seqlet_frame(at)
    bad = b"MEME version 4\n\nMOTIF X1 bad\nletter-probability matrix: alength= 4 w= 2\n0.5 0.5 0.5\n0.1 0.2 0.7\n"
    at.file_uploader(key="meme_upload").set_value(("bad.meme", bad, "text/plain")).run()
    assert not at.exception
    assert at.error and "bad.meme" in at.error[0].value
    assert seqlet_frame(at).equals(before)

    # a user's MEME file names the seqlets with its motifs only; switching back restores JASPAR
    mine = jaspar().subset(["MA0466.4", "MA0080.7", "MA0035.5"])
    at.file_uploader(key="meme_upload").set_value(("mine.meme", meme_text(mine).encode(), "text/plain")).run()
    no_problems(at)
    got = {i for _, r in seqlet_frame(at).iterrows() for i in row_ids(r)}
    assert got and got <= {"MA0466.4", "MA0080.7", "MA0035.5"}
    at.radio(key="motif_db").set_value("jaspar").run()
    no_problems(at)
    assert seqlet_frame(at)[["start", "end", "ID 1"]].equals(before[["start", "end", "ID 1"]])


def test_fasta_seqlets_use_sequence_positions(demo_env):
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.run()
    gene_df = seqlet_frame(at)
    at.radio(key="input_mode").set_value("FASTA").run()
    data = (DEMO / "examples" / "promoter_windows.fa").read_bytes()
    at.file_uploader(key="fasta_upload").set_value(("promoter_windows.fa", data, "text/plain")).run()
    at.selectbox(key="fasta_record").set_value(0).run()
    no_problems(at)
    df = seqlet_frame(at)
    assert "chrom" not in df.columns
    # the record is the gene's model window (chr3:23652-27747, 1-based), so the same seqlets, shifted
    np.testing.assert_array_equal(df["start"].to_numpy(), gene_df["start"].to_numpy() - WINDOW[1])
    np.testing.assert_array_equal(df["end"].to_numpy(), gene_df["end"].to_numpy() - WINDOW[1])
    bed = at.session_state["downloads"]["seqlets"]["seqlets_bed"].make().splitlines()[1:]
    assert [ln.split("\t")[:3] for ln in bed] == [["DMG129_TSS", str(s), str(e)]
                                                  for s, e in zip(df["start"], df["end"])]


def test_knockout_verification_in_the_table_boxes_and_downloads(demo_env):
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.run()
    no_problems(at)
    called = seqlet_frame(at)
    assert "verified" not in called.columns
    at.checkbox(key="seqlet_verify").check().run()
    no_problems(at)
    shown = seqlet_frame(at)
    # verified seqlets only by default: a subset of the called rows, every one verified, with a negative
    # knock-out effect for a positive seqlet and a positive one for a negative seqlet
    assert len(shown) >= 1 and shown["verified"].all()
    assert set(zip(shown["start"], shown["end"])) <= set(zip(called["start"], called["end"]))
    assert (np.sign(shown["knock-out effect"]) == np.where(shown["contribution"] == "+", -1, 1)).all()
    assert (shown["knock-out q"] <= 0.05).all()
    chrom, w0, w1 = WINDOW
    crop = 8 * 32
    drivers = [s for s in planted_sites(chrom, w0 + crop, w1 - crop) if s[4] == "driver"]
    assert any(((shown["start"] < e) & (shown["end"] > s) & (shown["contribution"] == "+")).any()
               for s, e, *_ in drivers), "a planted driver site keeps its verified seqlet"
    labels = trace(chart(at, "contrib"), "seqlet labels")
    assert sorted(labels["text"]) == sorted(r["match 1"] or "?" for _, r in shown.iterrows())
    bed = at.session_state["downloads"]["seqlets"]["seqlets_bed"].make().splitlines()[1:]
    assert len(bed) == len(shown)
    tsv = at.session_state["downloads"]["seqlets"]["seqlets_tsv"].make().splitlines()
    head = tsv[0].split("\t")
    assert {"ko_effect", "ko_q", "verified"} <= set(head)
    assert all(ln.split("\t")[head.index("verified")] == "1" for ln in tsv[1:])

    # all seqlets: the called rows again, those that failed marked in the table and on the boxes
    at.toggle(key="seqlet_verified_only").set_value(False).run()
    no_problems(at)
    every = seqlet_frame(at)
    assert every[["start", "end"]].reset_index(drop=True).equals(called[["start", "end"]].reset_index(drop=True))
    failed = int((~every["verified"]).sum())
    labels = trace(chart(at, "contrib"), "seqlet labels")["text"]
    assert sum(t.startswith("✗") for t in labels) == failed
    assert int(every["verified"].sum()) == len(shown)
