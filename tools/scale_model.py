"""A Borzoi-scale model directory for the dashboard and CLI at their users' scale (no download).

    python -m tools.scale_model --out /tmp/borzoi_scale [--replicates 4] [--seq-length 524288]

writes a model directory the dashboard and the CLI load like any other:

- ``params.json``: every block type of calico/borzoi ``examples/params_pred.json`` in the same
  order (``batch-sync`` norm, conv_dna, res_tower x 6, transformer_tower, two unet_conv with
  upsample_conv, Cropping1D 16, conv_nac with dropout) at narrow widths, 524,288 bp in,
  16,352 bins of 32 bp out, a head of 7,611 targets;
- ``targets.txt``: Borzoi-like: stranded RNA and CAGE +/- rows pointing at each other
  (``strand_pair``), unstranded DNASE, ATAC and CHIP:<mark> rows; descriptions start with the
  assay as Borzoi's do (``RNA:``, ``CAGE:``, ``DNASE:``, ``ATAC:``, ``CHIP:H3K27ac:``, ...);
- ``rep{r}.weights.h5``: seeded random weights, one file per replicate (seed = r);
- ``genome.fa.gz`` (bgzip, ``.fai``/``.gzi``): one random chromosome ``chr1`` of
  ``--genome-bp`` bases; ``genes.gtf``: genes on both strands with 2-6 exons each, some longer
  than the model's output span;
- ``manifest.json`` naming all of it, with ``default_targets``.

Everything is seeded: the same arguments write the same files.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SEQ_LENGTH = 524_288
N_TARGETS = 7611
# (assay, stranded, rows, marks): 2,000 + 800 + 1,500 + 600 + 2,711 = 7,611
KINDS = [("RNA", True, 2000, None), ("CAGE", True, 800, None), ("DNASE", False, 1500, None),
         ("ATAC", False, 600, None), ("CHIP", False, 2711, ("H3K27ac", "H3K4me3", "H3K4me1", "CTCF", "POLR2A"))]
CELLS = ("K562", "HepG2", "GM12878", "liver", "brain", "heart", "lung", "kidney")


def narrow_params(seq_length: int = SEQ_LENGTH, width: int = 16, n_targets: int = N_TARGETS) -> dict:
    """params.json of the published Borzoi blocks at narrow widths (``width`` filters at the first level)."""
    w = int(width)
    return {"model": {
        "seq_length": int(seq_length), "augment_rc": True, "augment_shift": 3, "activation": "gelu",
        "norm_type": "batch-sync", "bn_momentum": 0.9, "kernel_initializer": "lecun_normal", "l2_scale": 2.0e-8,
        "trunk": [
            {"name": "conv_dna", "filters": w, "kernel_size": 15, "norm_type": None, "activation": "linear",
             "pool_size": 2},
            {"name": "res_tower", "filters_init": w, "filters_end": 2 * w, "divisible_by": 8, "kernel_size": 5,
             "num_convs": 1, "pool_size": 2, "repeat": 6},
            {"name": "transformer_tower", "key_size": 8, "heads": 2, "num_position_features": 8, "dropout": 0.2,
             "mha_l2_scale": 1.0e-8, "l2_scale": 1.0e-8, "kernel_initializer": "he_normal", "repeat": 2},
            {"name": "unet_conv", "kernel_size": 3, "upsample_conv": True},
            {"name": "unet_conv", "kernel_size": 3, "upsample_conv": True},
            {"name": "Cropping1D", "cropping": 16},
            {"name": "conv_nac", "filters": w + w // 2, "dropout": 0.1},
        ],
        "head_human": {"name": "final", "units": int(n_targets), "activation": "softplus"},
    }}


def targets_txt(n_targets: int = N_TARGETS) -> tuple[str, dict]:
    """(targets.txt text, {assay: row indexes, 'pair': (T,) strand partner}) of a Borzoi-like head.

    ``n_targets`` below 7,611 scales every kind down (at least 2 rows each, even for stranded kinds).
    """
    scale = n_targets / N_TARGETS
    counts = [max(2, int(round(n * scale)) // 2 * 2 if st else int(round(n * scale))) for _, st, n, _ in KINDS]
    counts[-1] += n_targets - sum(counts)
    lines = ["\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription"]
    pair = np.arange(n_targets)
    rows, i = {}, 0
    for (assay, stranded, _, marks), n in zip(KINDS, counts):
        rows[assay] = np.arange(i, i + n)
        for j in range(n):
            k = i + j
            cell = CELLS[(j // 2 if stranded else j) % len(CELLS)]
            if stranded:
                plus = j % 2 == 0
                pair[k] = k + 1 if plus else k - 1
                ident = f"{assay}{j // 2:05d}{'+' if plus else '-'}"
                desc = f"{assay}:{cell} sample {j // 2}"
            else:
                ident = f"{assay}{j:05d}"
                desc = f"{assay}:{marks[j % len(marks)]}:{cell} sample {j}" if marks else f"{assay}:{cell} sample {j}"
            lines.append(f"{k}\t{ident}\t/data/{ident}.w5\t768\t384\t0.01\tsum_sqrt\t{pair[k]}\t{desc}")
        i += n
    rows["pair"] = pair
    return "\n".join(lines) + "\n", rows


def write_genome(out: Path, length: int, seed: int) -> Path:
    """A random chr1 of ``length`` bp as bgzip FASTA with .fai/.gzi (pysam)."""
    import pysam

    rng = np.random.default_rng(seed)
    seq = np.array(list("ACGT"))[rng.integers(0, 4, length)]
    plain = out / "genome.fa"
    with open(plain, "w") as f:
        f.write(">chr1\n")
        for s in range(0, length, 80):
            f.write("".join(seq[s:s + 80]) + "\n")
    pysam.tabix_compress(str(plain), str(out / "genome.fa.gz"), force=True)
    plain.unlink()
    pysam.faidx(str(out / "genome.fa.gz"))
    return out / "genome.fa.gz"


def write_gtf(out: Path, length: int, seed: int, n_genes: int = 24) -> Path:
    """``n_genes`` genes on chr1, alternating strands, 2-6 exons each, 5-300 kb long."""
    rng = np.random.default_rng(seed + 1)
    lines = []
    starts = np.sort(rng.integers(300_000, max(length - 300_000, 300_001), n_genes))
    for g, s in enumerate(starts):
        strand = "+" if g % 2 == 0 else "-"
        glen = int(rng.choice([5_000, 40_000, 120_000, 300_000]))
        e = min(int(s) + glen, length - 1)
        n_ex = int(rng.integers(2, 7))
        slots = np.arange(int(s) + 3_000, e - 3_000, 2_000)
        inner = np.sort(rng.choice(slots, min(n_ex - 2, len(slots)), replace=False))
        firsts = [int(s)] + [int(p) for p in inner]
        exons = [(a, a + int(rng.integers(150, 1_500))) for a in firsts] + [(e - int(rng.integers(300, 2_000)), e)]
        gid, name = f"ENSG{g:011d}", f"GENE{g + 1}"
        attrs = f'gene_id "{gid}"; transcript_id "ENST{g:011d}"; gene_name "{name}"; gene_type "protein_coding";'
        lines.append(f"chr1\tscale\tgene\t{s + 1}\t{e}\t.\t{strand}\t.\t{attrs}")
        lines.append(f"chr1\tscale\ttranscript\t{s + 1}\t{e}\t.\t{strand}\t.\t{attrs}")
        for k, (a, b) in enumerate(exons):
            lines.append(f"chr1\tscale\texon\t{a + 1}\t{b}\t.\t{strand}\t.\t{attrs} exon_number \"{k + 1}\";")
    (out / "genes.gtf").write_text("\n".join(lines) + "\n")
    return out / "genes.gtf"


def build_model_dir(out, seq_length: int = SEQ_LENGTH, width: int = 16, n_targets: int = N_TARGETS,
                    replicates: int = 1, genome_bp: int = 1_500_000, seed: int = 0,
                    params: dict | None = None, name: str | None = None) -> Path:
    """Write the model directory (see the module docstring); returns its path.

    params: a params.json dict to use instead of :func:`narrow_params` (e.g. the published
    full-width Borzoi, ``benchmarks/borzoi_params_pred.json``); ``seq_length`` and ``n_targets``
    are then read from it (its first head) and ``width`` is ignored. name: the manifest's name.
    """
    from seqnn_engine.model import load_model
    from seqnn_engine.model.weights import save_weights

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if params is None:
        params = narrow_params(seq_length, width, n_targets)
    else:
        m = params["model"]
        seq_length = int(m["seq_length"])
        heads = sorted(k for k in m if k.startswith("head"))
        n_targets = int(m[heads[0]]["units"]) if heads else N_TARGETS
    (out / "params.json").write_text(json.dumps(params, indent=1))
    text, rows = targets_txt(n_targets)
    (out / "targets.txt").write_text(text)
    names = []
    for r in range(int(replicates)):
        m = load_model(out / "params.json", None, seed=seed + r, targets_path=out / "targets.txt")
        wfile = f"rep{r}.weights.h5"
        save_weights(m.net.layers, out / wfile)
        names.append(wfile)
        del m
    write_genome(out, max(int(genome_bp), seq_length + 200_000), seed)
    write_gtf(out, max(int(genome_bp), seq_length + 200_000), seed)
    defaults = [int(rows["RNA"][0]), int(rows["RNA"][1]), int(rows["CAGE"][0]), int(rows["CAGE"][1]),
                int(rows["DNASE"][0]), int(rows["ATAC"][0]), int(rows["CHIP"][0]), int(rows["CHIP"][3])]
    manifest = {"name": name or f"Borzoi-scale test model ({n_targets} targets, {seq_length:,} bp, random weights)",
                "params": "params.json", "weights": names, "targets": "targets.txt",
                "genome": "genome.fa.gz", "genes": "genes.gtf", "default_targets": defaults}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tools.scale_model", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seq-length", type=int, default=SEQ_LENGTH)
    ap.add_argument("--width", type=int, default=16, help="filters of the first level (default 16)")
    ap.add_argument("--targets", type=int, default=N_TARGETS)
    ap.add_argument("--replicates", type=int, default=1)
    ap.add_argument("--genome-bp", type=int, default=1_500_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    d = build_model_dir(a.out, a.seq_length, a.width, a.targets, a.replicates, a.genome_bp, a.seed)
    print(d)


if __name__ == "__main__":
    main()
