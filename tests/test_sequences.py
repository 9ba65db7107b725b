"""FASTA parsing and fitting sequences to a model length."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from seqnn_engine.errors import InputError
from seqnn_engine.genomics.sequences import FastaLimits, FastaRecord, fit_sequence, parse_fasta, read_fasta


# ----------------------------------------------------------------------------- parsing


def test_several_records_lowercase_crlf_and_description():
    text = ">seq1 first one\r\nACGTacgt\r\nNNAC\r\n\r\n>seq2\r\nggcc\r\n"
    recs = parse_fasta(text)
    assert [r.name for r in recs] == ["seq1", "seq2"]
    assert recs[0].sequence == "ACGTACGTNNAC"
    assert recs[0].description == "first one"
    assert recs[0].n_lowercase == 4 and recs[0].n_ambiguous == 2 and recs[0].n_iupac == 0
    assert recs[1].sequence == "GGCC" and recs[1].n_lowercase == 4
    assert len(recs[0]) == 12


def test_bytes_upload_with_bom_and_gzip_give_same_records():
    text = ">a\nACGT\n>b\nTTTT\n"
    plain = parse_fasta(text)
    assert parse_fasta(b"\xef\xbb\xbf" + text.encode()) == plain
    assert parse_fasta(gzip.compress(text.encode())) == plain
    # concatenated gzip members (what bgzip writes) are read completely
    two = gzip.compress(b">a\nACGT\n") + gzip.compress(b">b\nTTTT\n")
    assert parse_fasta(two) == plain


def test_iupac_codes_become_n_and_are_counted_per_record():
    recs = parse_fasta(">x\nARYSWKMBDHVN\n>y\nACGT\n>z\nnnry\n")
    x, y, z = recs
    assert x.sequence == "A" + "N" * 11
    assert (x.n_iupac, x.n_ambiguous) == (10, 11)
    assert (y.n_iupac, y.n_ambiguous) == (0, 0)
    assert (z.sequence, z.n_iupac, z.n_ambiguous) == ("NNNN", 2, 4)


def test_uracil_becomes_t():
    (r,) = parse_fasta(">rna\nACGU\nuu\n")
    assert r.sequence == "ACGTTT" and r.n_uracil == 3


def test_whitespace_inside_lines_and_comment_lines_are_ignored():
    (r,) = parse_fasta(";comment\n>a\nAC GT\tAA\n;another\nCC\n")
    assert r.sequence == "ACGTAACC"


def test_invalid_character_names_record_position_and_line():
    with pytest.raises(InputError) as e:
        parse_fasta(">ok\nACGT\n>bad\nACGT\nAC-T\n")
    msg = str(e.value)
    # the '-' is the 7th base of 'bad' and on line 5
    assert "'bad'" in msg and "position 7" in msg and "line 5" in msg and "'-'" in msg


def test_invalid_position_counts_bases_not_spaces():
    with pytest.raises(InputError, match=r"position 5 \(line 2\)"):
        parse_fasta(">a\nAC GT 1\n")
    with pytest.raises(InputError, match=r"'é'.*position 4 \(line 3\)"):
        parse_fasta(">a\nA C\nGé\n")


def test_empty_input_is_an_error():
    for bad in ["", "   \n\n", b"", "\ufeff"]:
        with pytest.raises(InputError, match="empty"):
            parse_fasta(bad)


def test_header_without_sequence_is_an_error():
    with pytest.raises(InputError, match=r"'a' \(line 1\) has no sequence"):
        parse_fasta(">a\n>b\nACGT\n")
    with pytest.raises(InputError, match="has no sequence"):
        parse_fasta(">a\nACGT\n>b\n")
    with pytest.raises(InputError, match="no name"):
        parse_fasta(">\nACGT\n")


def test_duplicate_names_are_an_error():
    with pytest.raises(InputError, match=r"duplicate.*'a'.*lines 1 and 3"):
        parse_fasta(">a\nAC\n>a x\nGT\n")


def test_bare_sequence_is_one_record_unless_disallowed():
    (r,) = parse_fasta("acgt\nNNAA\n")
    assert (r.name, r.sequence) == ("pasted", "ACGTNNAA")
    (r,) = parse_fasta("ACGT", bare_name="mine")
    assert r.name == "mine"
    with pytest.raises(InputError, match="before any '>' header"):
        parse_fasta("ACGT\n", allow_bare=False)
    # a bare prefix followed by records keeps both
    recs = parse_fasta("AC\n>b\nGT\n")
    assert [(x.name, x.sequence) for x in recs] == [("pasted", "AC"), ("b", "GT")]


def test_limits():
    with pytest.raises(InputError, match="more than 2 FASTA records"):
        parse_fasta(">a\nA\n>b\nC\n>c\nG\n", limits=FastaLimits(max_records=2))
    with pytest.raises(InputError, match="longer than the limit of 5"):
        parse_fasta(">a\nACG\nTAC\n", limits=FastaLimits(max_sequence_length=5))
    with pytest.raises(InputError, match="more than the limit of 10"):
        parse_fasta(">a\nACGTACGTACGT\n", limits=FastaLimits(max_total_bytes=10))
    bomb = gzip.compress(b">a\n" + b"A" * 10_000)
    with pytest.raises(InputError, match="decompressed"):
        parse_fasta(bomb, limits=FastaLimits(max_total_bytes=1000))
    # exactly at the limits is fine
    assert len(parse_fasta(">a\nACGTA\n>b\nC\n", limits=FastaLimits(max_records=2, max_sequence_length=5))) == 2


def test_not_text_and_corrupt_gzip():
    with pytest.raises(InputError, match="not text"):
        parse_fasta(b">a\nAC\xff\xfe\n")
    with pytest.raises(InputError, match="corrupt or truncated"):
        parse_fasta(gzip.compress(b">a\nACGT\n")[:-6])
    with pytest.raises(InputError, match="text or bytes"):
        parse_fasta(123)


def test_read_fasta_plain_and_gz(tmp_path):
    p = tmp_path / "x.fa"
    p.write_text(">a\nACGT\n")
    g = tmp_path / "y.fa.gz"
    g.write_bytes(gzip.compress(b">a\nACGT\n"))
    assert read_fasta(p) == read_fasta(g) == [FastaRecord("a", "ACGT")]
    bare = tmp_path / "bare.fa"
    bare.write_text("ACGT\n")
    assert read_fasta(bare)[0].name == "bare.fa"
    with pytest.raises(InputError, match="not found"):
        read_fasta(tmp_path / "missing.fa")


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_fuzz_parser_raises_only_input_error(data):
    try:
        recs = parse_fasta(data)
    except InputError:
        return
    assert recs
    for r in recs:
        assert r.sequence and set(r.sequence) <= set("ACGTN")
        assert r.n_ambiguous == r.sequence.count("N")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=">ACGTNacgtnRYxU \n\r\t;-", max_size=200))
def test_fuzz_fasta_like_text_raises_only_input_error(data):
    try:
        parse_fasta(data)
    except InputError:
        pass


# ----------------------------------------------------------------------------- fitting


def test_shorter_sequence_is_centred_and_padded():
    f = fit_sequence("ACGTA", 10)
    assert f.windows == ("NNACGTANNN",)
    assert (f.pad_left[0], f.pad_right[0], f.offsets[0]) == (2, 3, -2)
    assert f.mode == "pad" and f.source_length == 5
    # window position p <-> user position offsets + p: 'A' at user 0 is window pos 2
    assert f.windows[0][2 - f.offsets[0] - 2] == "A"
    assert f.to_user(0, 2) == 0


def test_longer_sequence_centre_cropped():
    seq = "AAACCCGGGTT"  # L=11
    f = fit_sequence(seq, 4)
    start = (11 - 4) // 2  # 3
    assert f.windows == (seq[3:7],) and f.offsets.tolist() == [start]
    assert f.pad_left.tolist() == [0] and f.pad_right.tolist() == [0] and f.mode == "crop"


def test_exact_length_is_one_window():
    f = fit_sequence("ACGT", 4, mode="tile")
    assert f.windows == ("ACGT",) and f.offsets.tolist() == [0]


def test_tiling_covers_every_base_and_maps_back():
    seq = "".join("ACGT"[i % 4] for i in range(10)) + "GGGG"  # L=14
    f = fit_sequence(FastaRecord("r", seq), 5, mode="tile")
    assert f.name == "r" and f.mode == "tile"
    assert f.offsets.tolist() == [0, 5, 9]  # last window ends exactly at 14
    for w, win in enumerate(f.windows):
        o = f.offsets[w]
        assert win == seq[o:o + 5]
    covered = set()
    for o in f.offsets:
        covered |= set(range(o, o + 5))
    assert covered == set(range(14))
    g = fit_sequence(seq, 5, mode="tile", stride=3)
    assert g.offsets.tolist() == [0, 3, 6, 9]


def test_bin_starts_map_output_bins_to_user_coordinates():
    # 10 bases padded into 16: pad_left 3; stride 4, crop 1 -> 2 output bins at window 4 and 8
    f = fit_sequence("ACGTACGTAC", 16)
    assert f.pad_left[0] == 3
    assert f.bin_starts(0, 2, stride=4, crop=1).tolist() == [1, 5]
    t = fit_sequence("A" * 20, 8, mode="tile")  # offsets 0, 8, 12
    assert t.bin_starts(2, 2, stride=2, crop=1).tolist() == [14, 16]


def test_fitted_onehot_shape_and_padding_rows():
    f = fit_sequence("AC", 4)
    x = f.onehot()
    assert x.shape == (1, 4, 4) and x.dtype == np.float32
    assert x[0, 0].sum() == 0 and x[0, 3].sum() == 0 and x[0, 1, 0] == 1 and x[0, 2, 1] == 1


def test_fit_errors():
    with pytest.raises(InputError, match="empty"):
        fit_sequence("", 10)
    with pytest.raises(InputError, match="mode"):
        fit_sequence("ACGT", 2, mode="shrink")
    with pytest.raises(InputError, match="positive"):
        fit_sequence("ACGT", 0)
    with pytest.raises(InputError, match="stride"):
        fit_sequence("ACGTAC", 2, mode="tile", stride=0)
