"""Genes of one window from a large annotation: region read (tabix) vs whole-file parse.

    .venv/bin/python benchmarks/bench_gene_region.py [--genes 20000] [--keep DIR]

Writes a synthetic GENCODE-like GTF (non-overlapping genes, several transcripts of several
exons, CDS rows, GENCODE-style attributes), bgzips and tabix-indexes it, then measures, each in a
fresh Python process (peak RSS from getrusage of the child, wall time inside the child):

* ``GeneSet.read`` of the whole file, then the genes of a 196,608 bp window (the old path);
* ``GeneSet.read_region`` of the same window through the index (the window path);
* the name index: one streaming pass writing gene id, name, chrom, start, end, strand.

Prints one table; nothing is written to RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WINDOW = 196_608


def write_gtf(path: Path, n_genes: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    chroms = [f"chr{i}" for i in range(1, 23)]   # 22 chromosomes: each stays below the .tbi limit (512 Mb)
    per = -(-n_genes // len(chroms))
    k = 0
    with open(path, "w") as fh:
        fh.write("##description: synthetic GENCODE-like annotation\n")
        for chrom in chroms:
            pos = 10_000
            for _ in range(per):
                if k >= n_genes:
                    break
                length = int(rng.integers(5_000, 80_000))
                g0, g1 = pos, pos + length
                strand = "+-"[k % 2]
                gid, name = f"ENSG{k:011d}.{1 + k % 9}", f"GENE{k}"
                base = (f'gene_id "{gid}"; gene_type "protein_coding"; gene_name "{name}"; level 2; '
                        f'hgnc_id "HGNC:{k}";')
                rows = [(g0, f"gene\t{g0}\t{g1}\t.\t{strand}\t.\t{base}")]
                for j in range(int(rng.integers(1, 6))):
                    ts = g0 + int(rng.integers(0, length // 4))
                    te = g1 - int(rng.integers(0, length // 4))
                    tid = f"ENST{k:09d}{j:02d}.1"
                    attrs = (f'{base} transcript_id "{tid}"; transcript_type "protein_coding"; '
                             f'transcript_name "{name}-{201 + j}"; tag "basic";'
                             + (' tag "Ensembl_canonical";' if j == 0 else ""))
                    rows.append((ts, f"transcript\t{ts}\t{te}\t.\t{strand}\t.\t{attrs}"))
                    cuts = np.sort(rng.choice(np.arange(ts + 1, te), 2 * int(rng.integers(1, 8)), replace=False))
                    b = [ts, *cuts.tolist(), te]
                    for n, (es, ee) in enumerate(zip(b[::2], b[1::2])):
                        ex = f'{attrs} exon_number {n + 1}; exon_id "ENSE{k:07d}{j:02d}{n:02d}.1";'
                        rows.append((es, f"exon\t{es}\t{ee}\t.\t{strand}\t.\t{ex}"))
                        rows.append((es, f"CDS\t{es}\t{ee}\t.\t{strand}\t0\t{ex}"))
                for _, text in sorted(rows, key=lambda r: r[0]):
                    fh.write(f"{chrom}\tHAVANA\t{text}\n")
                pos = g1 + int(rng.integers(1_000, 30_000))
                k += 1


CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, {repo!r})
from seqnn_engine.genomics.genes import GeneSet
from seqnn_engine.genomics.gene_index import build_name_index
mode, plain, gz, chrom, start, end, idx = sys.argv[1:]
start, end = int(start), int(end)
t0 = time.perf_counter()
if mode == "whole":
    n = len(GeneSet.read(plain).overlapping(chrom, start, end))
elif mode == "region":
    n = len(GeneSet.read_region(gz, chrom, start, end))
else:
    n = len(build_name_index(gz, idx))
dt = time.perf_counter() - t0
print(json.dumps({{"n": n, "seconds": dt, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_child(mode, plain, gz, region, idx):
    code = CHILD.format(repo=str(REPO))
    out = subprocess.run([sys.executable, "-c", code, mode, str(plain), str(gz), *map(str, region), str(idx)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--keep", metavar="DIR", help="write the annotation here and keep it")
    args = ap.parse_args(argv)
    import pysam

    d = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-genes-"))
    d.mkdir(parents=True, exist_ok=True)
    plain = d / "synthetic.gtf"
    if not plain.exists():
        write_gtf(plain, args.genes)
    gz = Path(str(plain) + ".gz")
    if not gz.exists():
        pysam.tabix_index(str(plain), preset="gff", keep_original=True, force=True)
    region = ("chr3", 5_000_000, 5_000_000 + WINDOW)
    rows = {m: run_child(m, plain, gz, region, d / "names.tsv") for m in ("region", "whole", "names")}
    print(f"annotation: {args.genes:,} genes, {plain.stat().st_size / 2**20:.0f} MB plain, "
          f"{gz.stat().st_size / 2**20:.0f} MB bgzipped; window {region[0]}:{region[1]:,}-{region[2]:,}")
    print(f"{'path':<34}{'genes':>7}{'seconds':>10}{'peak RSS MB':>14}")
    names = {"whole": "GeneSet.read + overlapping", "region": "GeneSet.read_region (tabix)",
             "names": "name index (one streamed pass)"}
    for m in ("whole", "region", "names"):
        r = rows[m]
        print(f"{names[m]:<34}{r['n']:>7}{r['seconds']:>10.2f}{r['peak_rss_mb']:>14.0f}")
    if rows["whole"]["n"] != rows["region"]["n"]:
        print("MISMATCH: the window's genes differ", file=sys.stderr)
        return 1
    if not args.keep:
        for p in d.iterdir():
            os.unlink(p)
        d.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
