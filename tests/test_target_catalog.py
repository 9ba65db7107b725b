"""Target catalog: assay groups, ranked search, default selection and strand-collapsed tracks."""
from __future__ import annotations

import numpy as np
import pytest

from seqnn_engine.errors import InputError
from seqnn_engine.model.target_catalog import TargetCatalog, assay_group
from seqnn_engine.model.targets import parse_targets

HEADER = "\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n"


def borzoi_like(rows) -> str:
    """targets.txt text from (identifier, strand_pair, description) rows, index = row number."""
    return HEADER + "".join(f"{i}\t{ident}\tf{i}\t768\t384\t0.3\tsum_sqrt\t{p}\t{d}\n"
                            for i, (ident, p, d) in enumerate(rows))


SMALL = [
    ("ENCFF001+", 1, "RNA:liver"),
    ("ENCFF001-", 0, "RNA:liver"),
    ("CNhs10752+", 3, "CAGE:brain, adult"),
    ("CNhs10752-", 2, "CAGE:brain, adult"),
    ("ENCFF100", 4, "DNASE:K562"),
    ("ENCFF200", 5, "ATAC:HepG2"),
    ("ENCFF300", 6, "CHIP:H3K27ac:liver"),
    ("ENCFF301", 7, "CHIP:H3K4me3:brain"),
    ("ENCFF302", 8, "CHIP:H3K27ac:K562"),
    ("liver_thing", 9, "unlabelled liver track"),
    ("ENCFF002+", 11, "RNA:brain"),
    ("ENCFF002-", 10, "RNA:brain"),
]


@pytest.fixture
def cat():
    return TargetCatalog.from_table(parse_targets(borzoi_like(SMALL)), len(SMALL))


def test_assay_groups_from_description_prefix():
    assert assay_group("RNA:liver") == "RNA"
    assert assay_group("cage:brain") == "CAGE"
    assert assay_group("DNASE:K562 treated") == "DNASE"
    assert assay_group("ATAC:x") == "ATAC"
    assert assay_group("CHIP:H3K27ac:liver") == "CHIP:H3K27ac"
    assert assay_group("ChIP:CTCF synthetic (planted sites)") == "CHIP:CTCF"
    assert assay_group("CHIP:") == "CHIP"
    for d in ("", "RNA", "RNAseq:liver", "liver RNA:x", "H3K27ac"):
        assert assay_group(d) == "other", d


def test_groups_entries_and_pairs(cat):
    # '-' members of pairs are not entries: 12 targets, 9 entries
    assert cat.entries.tolist() == [0, 2, 4, 5, 6, 7, 8, 9, 10]
    assert cat.groups() == [("RNA", 2), ("CAGE", 1), ("DNASE", 1), ("ATAC", 1), ("CHIP:H3K27ac", 2),
                            ("CHIP:H3K4me3", 1), ("other", 1)]
    assert cat.strand.tolist() == ["+", "-", "+", "-", ".", ".", ".", ".", ".", ".", "+", "-"]
    assert cat.entry_of(11) == 10 and cat.entry_of(10) == 10 and cat.entry_of(4) == 4
    assert cat.label(0) == "ENCFF001+ / ENCFF001- - RNA:liver"


def test_catalog_keyed_by_output_index_not_row():
    # rows out of order: the catalog follows the index column
    text = HEADER + "1\tB\t\t\t\t\t\t\tDNASE:b\n0\tA\t\t\t\t\t\t\tRNA:a\n"
    c = TargetCatalog.from_table(parse_targets(text), 3)
    assert c.identifier == ("A", "B", "t2") and c.group == ("RNA", "DNASE", "other")


def test_unmatched_strand_pair_counts_as_unstranded():
    # both claim '+': not a +/- pair
    text = HEADER + "0\tX+\t\t\t\t\t\t1\tRNA:a\n1\tY+\t\t\t\t\t\t0\tRNA:a\n"
    c = TargetCatalog.from_table(parse_targets(text), 2)
    assert c.strand.tolist() == [".", "."] and c.entries.tolist() == [0, 1]


def test_search_matches_and_ranks(cat):
    # identifier equal < prefix < substring < group < description word
    assert cat.search("encff100").tolist() == [4]
    r = cat.search("ENCFF00")          # prefix of both RNA pairs' identifiers
    assert r.tolist() == [0, 10]
    r = cat.search("liver")            # description words; 'liver_thing' identifier prefix ranks first
    assert r.tolist() == [9, 0, 6]
    assert cat.search("h3k27ac").tolist() == [6, 8]
    assert cat.search("h3k27ac liver").tolist() == [6]   # every word must match
    assert cat.search("rna").tolist() == [0, 10]            # group equal
    assert cat.search("ENCFF001-").tolist() == [0]          # the '-' member finds its pair's entry
    assert cat.search("nothing-like-this").tolist() == []
    assert cat.search("", group="CHIP:H3K27ac").tolist() == [6, 8]
    assert cat.search("k562", group="DNASE").tolist() == [4]
    assert cat.search("", limit=3).tolist() == [0, 2, 4]


def test_search_at_borzoi_scale():
    rows = []
    for k in range(2000):
        rows += [(f"ENCFF{k:05d}+", 2 * k + 1, f"RNA:tissue{k % 50}"), (f"ENCFF{k:05d}-", 2 * k, f"RNA:tissue{k % 50}")]
    base = len(rows)
    for k in range(7611 - base):
        assay = ("DNASE:cell", "ATAC:cell", "CHIP:H3K27ac:cell", "CAGE:cell")[k % 4]
        rows.append((f"X{k:05d}", base + k, f"{assay}{k}"))
    c = TargetCatalog.from_table(parse_targets(borzoi_like(rows)), len(rows))
    assert len(c) == 7611 and len(c.entries) == 7611 - 2000
    assert dict(c.groups()) == {"RNA": 2000, "DNASE": 903, "ATAC": 903, "CHIP:H3K27ac": 903, "CAGE": 902}
    assert c.search("ENCFF01234-").tolist() == [2 * 1234]
    hits = c.search("tissue7")
    want = [2 * k for k in range(2000) if f"tissue{k % 50}".startswith("tissue7")]
    assert sorted(hits.tolist()) == want
    assert c.default_selection() == [0, base, base + 1, base + 2, base + 3]


def test_default_selection(cat):
    # no manifest entry: the first entry of each group
    assert cat.default_selection({}) == [0, 2, 4, 5, 6, 7, 9]
    # identifiers and indexes; a '-' member stands for its pair; repeats drop
    assert cat.default_selection({"default_targets": ["ENCFF302", 3, "ENCFF001-", 0]}) == [8, 2, 0]
    with pytest.raises(InputError) as e:
        cat.default_selection({"default_targets": ["ENCFF302", "nope", 99, -1]})
    msg = str(e.value)
    assert "'nope'" in msg and "99" in msg and "-1" in msg and "ENCFF302" not in msg.split(":")[1]
    for bad in ("ENCFF302", [], {"a": 1}, [True]):
        with pytest.raises(InputError):
            cat.default_selection({"default_targets": bad})


def test_tracks_take_the_chosen_strand(cat):
    sel = cat.tracks([0, 4, 3], "+")
    assert sel.indexes.tolist() == [0, 4, 2]
    assert sel.labels == ("ENCFF001+ (+)", "ENCFF100", "CNhs10752+ (+)")
    assert sel.strands.tolist() == ["+", ".", "+"]
    assert cat.tracks([0, 4, 3], "-").indexes.tolist() == [1, 4, 3]
    assert cat.tracks([1, 0, 4], ".").indexes.tolist() == [0, 4]           # both members: one track
    both = cat.tracks([11, 4], "both")
    assert both.indexes.tolist() == [10, 11, 4] and both.labels[1] == "ENCFF002- (-)"
    with pytest.raises(InputError):
        cat.tracks([0], "up")
    with pytest.raises(InputError):
        cat.tracks([12], "+")


def test_tracks_match_gene_strand_rows(cat):
    """The drawn rows of every entry equal TargetTable.gene_strand_rows (the reference rule)."""
    table = parse_targets(borzoi_like(SMALL))
    for s in ("+", "-"):
        assert cat.tracks(cat.entries, s).indexes.tolist() == table.gene_strand_rows(s).tolist()


def test_default_table_without_targets_file():
    c = TargetCatalog.from_table(None, 3)
    assert c.identifier == ("t0", "t1", "t2") and c.groups() == [("other", 3)]
    assert c.default_selection() == [0]
