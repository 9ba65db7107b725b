"""targets.txt parsing, strands and undoing the data transform."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import shared_path
from seqnn_engine.errors import InputError
from seqnn_engine.model.targets import TargetTable, parse_targets, read_targets, untransform

HEADER = "\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n"
TABLE = HEADER + (
    "0\tCAGE1+\tc+.w5\t384\t64\t1.0\tsum_sqrt\t1\tCAGE:liver\n"
    "1\tCAGE1-\tc-.w5\t384\t64\t1.0\tsum_sqrt\t0\tCAGE:liver\n"
    "2\tDNASE1\td.w5\t128\t32\t2.0\tmean\t2\tDNASE:heart\n"
    "3\tRNA-\tr-.w5\t384\t16\t0.5\tsum_exp75\t4\tRNA:lung\n"
    "4\tRNA+\tr+.w5\t384\t16\t0.5\tsum_exp75\t3\tRNA:lung\n"
)


def test_parse_full_table():
    t = parse_targets(TABLE)
    assert len(t) == 5
    assert t.index.tolist() == [0, 1, 2, 3, 4]
    assert t.identifier == ("CAGE1+", "CAGE1-", "DNASE1", "RNA-", "RNA+")
    assert t.clip.tolist() == [384, 384, 128, 384, 384]
    assert t.clip_soft.tolist() == [64, 64, 32, 16, 16]
    assert t.scale.tolist() == [1.0, 1.0, 2.0, 0.5, 0.5]
    assert t.sum_stat[2] == "mean" and t.description[0] == "CAGE:liver"
    assert t.strand.tolist() == ["+", "-", ".", "-", "+"]
    assert t.pair_row.tolist() == [1, 0, 2, 4, 3]
    assert t.labels()[2] == "DNASE:heart (DNASE1)"


def test_gene_strand_rows_follow_the_reference_collapse():
    t = parse_targets(TABLE)
    # collapsed targets are the rows not on '-': 0 (CAGE1+), 2 (DNASE1), 4 (RNA+)
    assert t.gene_strand_rows("+").tolist() == [0, 2, 4]
    # a '-' gene reads each '+' target from its '-' partner
    assert t.gene_strand_rows("-").tolist() == [1, 2, 3]
    assert t.gene_strand_rows(".").tolist() == [0, 2, 4]
    with pytest.raises(InputError):
        t.gene_strand_rows("x")


def test_missing_optional_columns_and_no_index_column():
    t = parse_targets("identifier\tdescription\nA\tfirst\nB\t\n")
    assert t.index.tolist() == [0, 1]
    assert np.isinf(t.clip).all() and np.isinf(t.clip_soft).all()
    assert t.scale.tolist() == [1.0, 1.0] and t.sum_stat == ("sum", "sum")
    assert t.strand_pair.tolist() == [0, 1] and t.strand.tolist() == [".", "."]
    assert t.description == ("first", "") and t.file == ("", "")


def test_empty_cells_short_rows_crlf_comments_and_column_order():
    text = "#comment\r\nindex\tscale\tidentifier\tclip_soft\r\n\r\n7\t\tX\r\n3\t2\tY\t5\r\n"
    t = parse_targets(text.encode())
    assert t.index.tolist() == [7, 3]
    assert t.scale.tolist() == [1.0, 2.0] and t.clip_soft[0] == np.inf and t.clip_soft[1] == 5
    assert t.identifier == ("X", "Y")
    # a stranded identifier with its own index as pair is unstranded
    assert t.strand.tolist() == [".", "."]


def test_partner_missing_from_a_subset_table():
    t = parse_targets(HEADER + "0\tA+\tf\t1\t1\t1\tsum\t5\td\n2\tB\tf\t1\t1\t1\tsum\t2\td\n")
    assert t.strand.tolist() == ["+", "."]
    assert t.pair_row.tolist() == [-1, 1]
    assert t.gene_strand_rows("-").tolist() == [0, 1]


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", "empty"),
        ("\n# only comment\n", "empty"),
        ("a\tb\n1\t2\n", "no 'identifier' column"),
        (HEADER, "no targets"),
        (HEADER + "x\tA\tf\t1\t1\t1\tsum\t0\td\n", r"line 2: index 'x'"),
        (HEADER + "0\tA\tf\tbig\t1\t1\tsum\t0\td\n", r"line 2: clip 'big' is not a number"),
        (HEADER + "0\tA\tf\t1\t1\t0\tsum\t0\td\n", r"line 2: scale must be a positive"),
        (HEADER + "0\tA\tf\t1\t1\t-1\tsum\t0\td\n", r"line 2: scale must be a positive"),
        (HEADER + "0\tA\tf\t1\t1\t1\tsum\t0.5\td\n", r"line 2: strand_pair"),
        (HEADER + "0\t\tf\t1\t1\t1\tsum\t0\td\n", r"line 2: empty identifier"),
        (HEADER + "0\tA\tf\t1\t1\t1\tsum\t0\td\textra\n", r"line 2: 10 tab-separated fields"),
        (HEADER + "0\tA\tf\t1\t1\t1\tsum\t0\td\n\n0\tB\tf\t1\t1\t1\tsum\t0\td\n", r"line 4: index 0 repeats line 2"),
        (HEADER + "0\tA+\tf\t1\t1\t1\tsum\t1\td\n1\tA-\tf\t1\t1\t1\tsum\t2\td\n2\tB\tf\t1\t1\t1\tsum\t1\td\n",
         r"line 2: target 0 names 1 as its strand pair but 1 names 2"),
        ("\tidentifier\tidentifier\n0\ta\tb\n", "appears twice"),
        (b"\tidentifier\n0\t\xff\n", "not UTF-8"),
        ("\tidentifier\n-1\tA\n", "negative"),
    ],
)
def test_bad_tables_name_the_line(text, pattern):
    with pytest.raises(InputError, match=pattern):
        parse_targets(text)


def test_read_targets_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_targets(tmp_path / "targets.txt")


def test_default_table():
    t = TargetTable.default(3)
    assert t.identifier == ("t0", "t1", "t2") and t.strand.tolist() == [".", ".", "."]
    y = np.array([[1.0, 2.0, 3.0]], np.float32)
    np.testing.assert_array_equal(untransform(y, t), y)


def test_shared_targets_file():
    t = read_targets(shared_path("datasets", "baskerville-tiny-hg38", "targets.txt"))
    assert len(t) == 74
    assert t.identifier[0] == "CNhs10752+" and t.identifier[1] == "CNhs10752-"
    assert t.strand[:2].tolist() == ["+", "-"] and t.pair_row[:2].tolist() == [1, 0]
    cage = [i for i, s in enumerate(t.sum_stat) if s == "sum_sqrt"]
    dnase = [i for i, s in enumerate(t.sum_stat) if s == "mean"]
    assert len(cage) + len(dnase) == 74
    assert set(t.clip_soft[cage]) == {64.0} and set(t.scale[dnase]) == {2.0}
    assert all(t.strand[i] == "." for i in dnase)
    # strand collapse: one collapsed target per unstranded track and per +/- pair
    strand = t.strand
    n_minus = int((strand == "-").sum())
    assert n_minus == int((strand == "+").sum()) > 0
    plus_rows = t.gene_strand_rows("+")
    minus_rows = t.gene_strand_rows("-")
    assert len(plus_rows) == len(minus_rows) == 74 - n_minus
    for a, b in zip(plus_rows, minus_rows):
        if strand[a] == "+":
            assert strand[b] == "-" and t.identifier[b] == t.identifier[a][:-1] + "-"
        else:
            assert a == b and strand[a] == "."


# ----------------------------------------------------------------------------- untransform


def _forward_current(x, t):
    """Baskerville hound_data_read (current) on already-pooled, already-scaled values."""
    y = x.astype(np.float64).copy()
    for j, stat in enumerate(t.sum_stat):
        if stat.endswith("_sqrt"):
            y[..., j] = np.sqrt(1 + y[..., j]) - 1
        elif stat.endswith("_exp75"):
            y[..., j] = (1 + y[..., j]) ** 0.75 - 1
        cs = t.clip_soft[j]
        above = y[..., j] > cs
        y[..., j][above] = cs - 1 + np.sqrt(y[..., j][above] - cs + 1)
    return y


def _forward_legacy(x, t):
    """Borzoi-manuscript transform (--transform_old) on pooled, unscaled values."""
    y = x.astype(np.float64).copy()
    for j, stat in enumerate(t.sum_stat):
        if stat.endswith("_sqrt"):
            y[..., j] = y[..., j] ** 0.75
        cs = t.clip_soft[j]
        above = y[..., j] > cs
        y[..., j][above] = cs + np.sqrt(y[..., j][above] - cs)
        y[..., j] *= t.scale[j]
    return y


def test_untransform_hand_computed_current():
    t = parse_targets(HEADER + "0\tA\tf\t1000\t3\t2.0\tsum_sqrt\t0\td\n1\tB\tf\t1000\t3\t4.0\tmean\t1\td\n")
    y = np.array([[2.0, 5.0]], np.float32)
    # A: 2 <= cs, so no unclip; sqrt inverse (2+1)^2-1 = 8; unscale 8/2 = 4
    # B: 5 > 3: 3-1+(5-3+1)^2 = 11; mean: no power; unscale 11/4 = 2.75
    np.testing.assert_allclose(untransform(y, t), [[8.0, 11.0]])
    np.testing.assert_allclose(untransform(y, t, unscale=True), [[4.0, 2.75]])
    np.testing.assert_allclose(untransform(y, t, unclip=False), [[8.0, 5.0]])


def test_untransform_hand_computed_legacy():
    t = parse_targets(HEADER + "0\tA\tf\t1000\t3\t2.0\tsum_sqrt\t0\td\n")
    y = np.array([10.0, 4.0], np.float32)[:, None]
    # 10/2 = 5 > 3: 3 + 2^2 = 7; 7^(4/3); times 2 unless unscale
    # 4/2 = 2: no unclip; 2^(4/3)
    np.testing.assert_allclose(untransform(y, t, legacy=True)[:, 0], [2 * 7 ** (4 / 3), 2 * 2 ** (4 / 3)], rtol=1e-6)
    np.testing.assert_allclose(untransform(y, t, legacy=True, unscale=True)[:, 0], [7 ** (4 / 3), 2 ** (4 / 3)], rtol=1e-6)


@pytest.mark.parametrize("legacy", [False, True])
def test_untransform_inverts_the_forward_transform(legacy):
    t = parse_targets(TABLE)
    rng = np.random.default_rng(0)
    x = rng.gamma(0.5, 200.0, size=(3, 50, len(t)))  # (S, P, T), many values above clip_soft
    if legacy:
        y = _forward_legacy(x, t)
        back = untransform(y.astype(np.float32), t, legacy=True, unscale=True)
    else:
        y = _forward_current(x, t)
        back = untransform(y.astype(np.float32), t)
    assert back.shape == x.shape and back.dtype == np.float32
    np.testing.assert_allclose(back, x, rtol=2e-4, atol=1e-3)


def test_untransform_does_not_modify_input_and_checks_shape():
    t = parse_targets(TABLE)
    y = np.full((4, 5), 100.0, np.float32)
    keep = y.copy()
    untransform(y, t)
    np.testing.assert_array_equal(y, keep)
    with pytest.raises(InputError, match="5 rows"):
        untransform(np.zeros((4, 3)), t)


# ----------------------------------------------------------------------------- fuzz


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    st.lists(st.lists(st.sampled_from(["", "0", "1", "-2", "x+", "y-", "sum_sqrt", "1e999", "nan",
                                        "identifier", "scale", "strand_pair", "clip_soft", " "]),
                      max_size=9), max_size=6).map(lambda rows: "\n".join("\t".join(r) for r in rows)),
))
def test_fuzz_parser_raises_only_input_error(data):
    try:
        t = parse_targets(data)
    except InputError:
        return
    assert len(t) >= 1 and len(t.strand) == len(t)
    t.gene_strand_rows("-")
