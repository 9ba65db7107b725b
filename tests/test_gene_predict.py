"""predict_genes against a hand-computed sum on a small model; gene objectives for attribution."""
import keras
import numpy as np
import pytest

from seqnn_engine import InputError
from seqnn_engine.analysis.gene_predict import exon_bin_positions, predict_genes, tss_bin_positions
from seqnn_engine.genomics.genes import GeneSet
from seqnn_engine.genomics.genome import Genome
from seqnn_engine.model.build import build_network
from seqnn_engine.model.seqmodel import SeqModel
from seqnn_engine.model.spec import parse_params
from seqnn_engine.genomics.onehot import encode


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(1)
    spec = parse_params({"model": {"seq_length": 512, "trunk": [
        {"name": "conv_dna", "filters": 8, "kernel_size": 9, "pool_size": 4},
        {"name": "conv_tower", "filters_init": 8, "filters_mult": 1.0, "kernel_size": 3, "pool_size": 4,
         "repeat": 1},
        {"name": "Cropping1D", "cropping": 2}], "head": {"name": "final", "units": 3, "activation": "softplus"}}})
    return SeqModel(spec, build_network(spec, 0), 0)


@pytest.fixture
def genome_and_genes(tmp_path):
    rng = np.random.default_rng(0)
    seq = "".join("ACGT"[i] for i in rng.integers(0, 4, 3000))
    (tmp_path / "g.fa").write_text(">chrA\n" + "\n".join(seq[i:i + 60] for i in range(0, 3000, 60)) + "\n")
    gtf = [
        # gene on + with two transcripts (TSS 1000 and 1100, 1-based 1001 / 1101)
        "chrA\tt\tgene\t1001\t1800\t.\t+\t.\tgene_id \"G1\"; gene_name \"PLUS\";",
        "chrA\tt\ttranscript\t1001\t1800\t.\t+\t.\tgene_id \"G1\"; transcript_id \"T1\"; gene_name \"PLUS\";",
        "chrA\tt\texon\t1001\t1200\t.\t+\t.\tgene_id \"G1\"; transcript_id \"T1\"; gene_name \"PLUS\";",
        "chrA\tt\texon\t1601\t1800\t.\t+\t.\tgene_id \"G1\"; transcript_id \"T1\"; gene_name \"PLUS\";",
        "chrA\tt\ttranscript\t1101\t1800\t.\t+\t.\tgene_id \"G1\"; transcript_id \"T2\"; gene_name \"PLUS\";",
        "chrA\tt\texon\t1101\t1800\t.\t+\t.\tgene_id \"G1\"; transcript_id \"T2\"; gene_name \"PLUS\";",
        # gene on - near the chromosome end (window runs past it and is padded)
        "chrA\tt\tgene\t2500\t2990\t.\t-\t.\tgene_id \"G2\"; gene_name \"MINUS\";",
        "chrA\tt\ttranscript\t2500\t2990\t.\t-\t.\tgene_id \"G2\"; transcript_id \"T3\"; gene_name \"MINUS\";",
        "chrA\tt\texon\t2500\t2990\t.\t-\t.\tgene_id \"G2\"; transcript_id \"T3\"; gene_name \"MINUS\";",
    ]
    (tmp_path / "g.gtf").write_text("\n".join(gtf) + "\n")
    return Genome(tmp_path / "g.fa"), GeneSet.read(tmp_path / "g.gtf"), seq


def test_predict_genes_equals_hand_sum(small, genome_and_genes):
    genome, genes, seq = genome_and_genes
    g1, g2 = genes.get("G1"), genes.get("G2")
    res = predict_genes(small, genome, [g1, g2], tss_radius=1)
    # by hand: G1's primary TSS is the most 5' of its tied TSSs (1000); window = [1000-256, 1000+256)
    start = 1000 - 256
    x = encode(seq[start:start + 512])[None]
    p = small.predict(x).mean[0]                       # (P, T), P = 512/16 - 4 = 28 bins
    b = [(t - start) // 16 - 2 for t in (1000, 1100)]   # TSS bins 14 and 20
    hand = sum(p[bb - 1:bb + 2].sum(0) for bb in b)
    np.testing.assert_allclose(res.values[0], hand, rtol=1e-6)
    # G2 on '-': TSS = end - 1 = 2989 (0-based); window [2733, 3245) runs past the end (3000): N-padded
    start2 = 2989 - 256
    x2 = encode(seq[start2:] + "N" * (start2 + 512 - 3000))[None]
    p2 = small.predict(x2).mean[0]
    bb = (2989 - start2) // 16 - 2
    np.testing.assert_allclose(res.values[1], p2[bb - 1:bb + 2].sum(0), rtol=1e-6)
    assert res.windows[1].end > 3000 and res.strands == ["+", "-"]


def test_gene_objective_bins(small, genome_and_genes):
    genome, genes, _ = genome_and_genes
    res = predict_genes(small, genome, [genes.get("G1")])
    w = res.windows[0]
    np.testing.assert_array_equal(tss_bin_positions(w, 1), [13, 14, 15, 19, 20, 21])
    ex = exon_bin_positions(w)
    # exons [1000,1200) and [1600,1800) -> bins 14..20 and 39.. (outside 28 bins): only 14..20 remain,
    # merged with transcript T2's exon [1100,1800) -> bins 14..27
    np.testing.assert_array_equal(ex, np.arange(14, 28))
    a = small.attribute(genome.fetch(w.chrom, w.start, w.end).sequence and
                        encode(genome.fetch(w.chrom, w.start, w.end).sequence)[None],
                        "saliency", targets=[0], positions=ex, diagnostics=False)
    assert a.scores.shape == (1, 512, 4) and np.abs(a.scores).max() > 0
    with pytest.raises(InputError):
        predict_genes(small, genome, [])
