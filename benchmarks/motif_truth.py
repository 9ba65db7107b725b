"""Seqlets and their TOMTOM names against the demo genome's planted driver sites (issue 16, point 6).

Run: nice .venv/bin/python benchmarks/motif_truth.py [--windows N] [--query contribution]

For each driver track (CTCF, SPI1, CEBPB, REST) on the held-out demo windows (chr3, 4096 bp tiles,
the windows of tools/demo/groundtruth.py): saliency of the track's objective (sum over all
output bins), seqlets called from the contribution of the present base (centred gradient x
one-hot, :func:`seqnn_engine.motifs.seqlets.call_seqlets`), and their TOMTOM matches against the
bundled JASPAR 2024 set. :func:`seqlet_recovery` scores one track's seqlets against the planted sites:

- recall: planted sites of the track's own motif centred in the output span (the ground truth's
  positives) overlapped by a seqlet, over all such sites;
- precision: seqlets overlapping a planted site of the track's own motif (anywhere in the window),
  over all seqlets (and over positive seqlets only: planted drivers raise their own track; and over the
  seqlets centred in the output span only, the region recall counts sites in: ``precision_span``);
- id_top3: among recovered sites, the fraction whose (most significant overlapping) seqlet has the
  planted JASPAR matrix ID among its 3 best matches;
- decoy_called: decoy sites (GATA1, YY1, FOXA2) centred in the output span overlapped by a seqlet,
  over all such decoy sites; seqlets_on_decoys: seqlets overlapping a decoy site, over all seqlets.

Prints one line per track and the pooled numbers; ``--json`` saves them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.demo import groundtruth as gt  # noqa: E402
from tools.demo.motifs import DECOYS, load_motifs as demo_motifs  # noqa: E402


@dataclass
class SeqletRecovery:
    """One track's seqlets scored against the planted sites (see the module docstring).

    n_sites: own-motif sites centred in the output span; recovered: those overlapped by a seqlet;
    n_seqlets: all seqlets; on_own: seqlets overlapping an own-motif site; id_top3: recovered sites
    whose seqlet lists the planted ID in its top 3; id_top1: ... as its best match;
    n_decoy_sites / decoy_called: decoy sites centred in the output span / overlapped by a seqlet;
    on_decoys: seqlets overlapping a decoy site; positive / negative: seqlets of each sign;
    on_own_positive: positive seqlets overlapping an own-motif site;
    n_seqlets_span / on_own_span: seqlets centred in the output span / those overlapping an own-motif site.
    """

    motif: str
    matrix_id: str
    n_sites: int
    recovered: int
    n_seqlets: int
    on_own: int
    id_top3: int
    id_top1: int
    n_decoy_sites: int
    decoy_called: int
    on_decoys: int
    positive: int
    negative: int
    on_own_positive: int
    n_seqlets_span: int = 0
    on_own_span: int = 0

    @property
    def recall(self) -> float:
        return self.recovered / self.n_sites if self.n_sites else float("nan")

    @property
    def precision(self) -> float:
        return self.on_own / self.n_seqlets if self.n_seqlets else float("nan")

    @property
    def precision_positive(self) -> float:
        """Precision over positive seqlets only (planted drivers raise their own track)."""
        return self.on_own_positive / self.positive if self.positive else float("nan")

    @property
    def precision_span(self) -> float:
        """Precision over the seqlets centred in the output span (where recall counts sites)."""
        return self.on_own_span / self.n_seqlets_span if self.n_seqlets_span else float("nan")

    @property
    def id_top3_rate(self) -> float:
        return self.id_top3 / self.recovered if self.recovered else float("nan")

    def summary(self) -> dict:
        d = asdict(self)
        d.update(recall=self.recall, precision=self.precision, precision_positive=self.precision_positive,
                 precision_span=self.precision_span,
                 id_top3_rate=self.id_top3_rate,
                 id_top1_rate=self.id_top1 / self.recovered if self.recovered else float("nan"),
                 decoy_call_rate=self.decoy_called / self.n_decoy_sites if self.n_decoy_sites else float("nan"),
                 seqlets_on_decoys_rate=self.on_decoys / self.n_seqlets if self.n_seqlets else float("nan"))
        return d


def seqlet_recovery(table, windows, sites: dict, motif: str, matrix_id: str) -> SeqletRecovery:
    """Score ``table`` (a :class:`~seqnn_engine.motifs.seqlets.SeqletTable` whose ``seq`` indexes
    ``windows``, a :class:`~tools.demo.groundtruth.HeldOutWindows`) against the planted sites
    (``gt.site_tables``) for ``motif``'s track; ``matrix_id`` is the planted JASPAR ID."""
    L, crop = windows.length, windows.crop_bp
    n_sites = recovered = id3 = id1 = n_dec = dec_called = 0
    on_own = np.zeros(len(table), bool)
    on_dec = np.zeros(len(table), bool)
    ids = table.matches.ids if table.matches is not None else None
    for w in range(len(windows)):
        st = sites.get(str(windows.chrom[w]))
        if st is None:
            continue
        w0 = int(windows.start[w])
        rows = np.flatnonzero(table.seq == w)
        a, b = table.start[rows] + w0, table.end[rows] + w0
        order = rows[np.argsort(table.p_value[rows], kind="stable")]   # most significant first
        near = (st.end > w0) & (st.start < w0 + L)
        for s, e, name, drv in zip(st.start[near], st.end[near], st.name[near], st.driver[near]):
            hit = (a < e) & (b > s)
            if name == motif and drv:
                on_own[rows[hit]] = True
            if not drv and name in DECOYS:
                on_dec[rows[hit]] = True
            centred = w0 + crop <= (s + e) / 2.0 < w0 + L - crop
            if not centred:
                continue
            if name == motif and drv:
                n_sites += 1
                if hit.any():
                    recovered += 1
                    best = [r for r in order if (table.start[r] + w0 < e) and (table.end[r] + w0 > s)][0]
                    if ids is not None:
                        top = [str(i) for i in ids[best, :3] if i]
                        id3 += matrix_id in top
                        id1 += bool(top) and top[0] == matrix_id
            elif not drv and name in DECOYS:
                n_dec += 1
                dec_called += bool(hit.any())
    mid = (table.start + table.end) / 2.0
    span = (mid >= crop) & (mid < L - crop)
    return SeqletRecovery(motif, matrix_id, n_sites, recovered, len(table), int(on_own.sum()), id3, id1, n_dec,
                          dec_called, int(on_dec.sum()), int((table.sign > 0).sum()), int((table.sign < 0).sum()),
                          int((on_own & (table.sign > 0)).sum()), int(span.sum()), int((on_own & span).sum()))


def tuning_windows(demo_dir, seq_length: int, crop_bp: int, chrom: str = "chr2", limit=None):
    """Non-overlapping ``seq_length`` windows tiled from position 0 of a TRAINING chromosome of the demo
    (default chr2; the held-out chromosome is refused): the windows on which the benchmark chooses its
    operating point, so that the held-out windows only measure it. A
    :class:`~tools.demo.groundtruth.HeldOutWindows` (the same fields)."""
    from seqnn_engine.errors import InputError
    from tools.demo.train import genome_meta, onehot_windows, read_genome_indices

    meta = genome_meta(demo_dir)
    if chrom in meta.get("test_chroms", []) or chrom not in meta.get("train_chroms", []):
        raise InputError(f"tuning windows come from a training chromosome {meta.get('train_chroms')}, not {chrom}")
    n = int(meta["chrom_sizes"][chrom])
    starts = np.arange(0, n - seq_length + 1, seq_length, dtype=np.int64)[:limit]
    x = onehot_windows(read_genome_indices(demo_dir, [chrom]), [chrom] * len(starts), starts, seq_length)
    return gt.HeldOutWindows(np.array([chrom] * len(starts)), starts, x, int(crop_bp))


VALIDATION_SEED = 777   # the generator seed of the validation chromosome (the shipped demo genome's is 20240605)


def validation_genome(out_dir, seed: int = VALIDATION_SEED, size: int = 900_000) -> Path:
    """A freshly generated demo chromosome (``tools.demo.genome_gen.generate`` with another seed, one
    chromosome named chr3 of ``size`` bp) written to ``out_dir``: the same generator, planted-site densities
    and motifs as the demo genome, but sequence the model was never trained on and that is not the
    held-out evaluation chromosome. Its windows (``gt.held_out_windows(out_dir, ...)``) and sites
    (``gt.site_tables(out_dir)``) are where the benchmark chooses its operating point. Returns ``out_dir``."""
    from tools.demo.genome_gen import SEED, generate

    if int(seed) == SEED:
        raise ValueError(f"seed {seed} regenerates the shipped demo genome; use another seed")
    out = Path(out_dir)
    if not (out / "genome_meta.json").exists():
        generate(out, seed=int(seed), chrom_sizes={"chr3": int(size)}, log=lambda m: None)
    return out


def held_out_setup(windows=None) -> tuple:
    """(model, driver target indexes, held-out windows, planted site tables, planted JASPAR IDs) of the
    shipped demo model: the first ``windows`` held-out windows (all by default)."""
    from seqnn_engine import load_model_dir
    from tools.demo import demo_dir

    D = demo_dir()
    model = load_model_dir(D)
    W = gt.held_out_windows(D, model.seq_length, model.crop * model.stride, limit=windows)
    return (model, gt.driver_target_indexes(model), W, gt.site_tables(D),
            {k: m.matrix_id for k, m in demo_motifs().items()})


def run(args) -> dict:
    from seqnn_engine.motifs.annotate import annotate_seqlets
    from seqnn_engine.motifs.seqlets import call_seqlets

    model, tix, W, sites, ids = held_out_setup(args.windows)
    out = {}
    t0 = time.perf_counter()
    for motif in gt.DRIVERS:
        hyp = []
        for c0 in range(0, len(W), 16):
            a = model.attribute(W.x[c0:c0 + 16], method="saliency", targets=[tix[motif]], rc=args.rc,
                                diagnostics=False)
            hyp.append(a.hypothetical)
        hyp = np.concatenate(hyp)
        t1 = time.perf_counter()
        table = call_seqlets(hyp, onehot=W.x, alpha=args.alpha, min_len=args.min_len, max_len=args.max_len,
                             null=args.null, clip=args.clip, merge_gap=None if args.merge_gap < 0 else args.merge_gap, targets=motif, objective="sum over all output bins", method="saliency")
        t2 = time.perf_counter()
        t_seq = t2 - t1
        for query in args.query.split(","):
            named = annotate_seqlets(table, W.x, hypothetical=hyp, query=query, max_q=args.max_q)
            t3 = time.perf_counter()
            rec = seqlet_recovery(named, W, sites, motif, ids[motif])
            key = motif if query == args.query.split(",")[0] else f"{motif} ({query} query)"
            out[key] = dict(rec.summary(), query=query, seconds_seqlets=t_seq, seconds_tomtom=t3 - t2)
            print(f"{key}: recall {rec.recall:.3f} ({rec.recovered}/{rec.n_sites}), precision {rec.precision:.3f} "
                  f"({rec.on_own}/{rec.n_seqlets}; positive seqlets {rec.precision_positive:.3f}), planted ID in "
                  f"top 3 {rec.id_top3_rate:.3f}, top 1 {out[key]['id_top1_rate']:.3f}; decoy sites called "
                  f"{rec.decoy_called}/{rec.n_decoy_sites}, seqlets on decoys {rec.on_decoys}; +{rec.positive} / "
                  f"-{rec.negative}; seqlets {t_seq:.1f} s, TOMTOM {t3 - t2:.1f} s", file=sys.stderr, flush=True)
            t2 = time.perf_counter()
    first = [v for v in out.values() if v["query"] == args.query.split(",")[0]]
    tot = {k: sum(v[k] for v in first) for k in ("n_sites", "recovered", "n_seqlets", "on_own", "id_top3",
                                                        "id_top1", "n_decoy_sites", "decoy_called", "on_decoys",
                                                        "positive", "on_own_positive")}
    pooled = dict(tot, recall=tot["recovered"] / max(1, tot["n_sites"]),
                  precision=tot["on_own"] / max(1, tot["n_seqlets"]),
                  precision_positive=tot["on_own_positive"] / max(1, tot["positive"]),
                  id_top3_rate=tot["id_top3"] / max(1, tot["recovered"]),
                  id_top1_rate=tot["id_top1"] / max(1, tot["recovered"]),
                  decoy_call_rate=tot["decoy_called"] / max(1, tot["n_decoy_sites"]))
    print(f"pooled: {json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in pooled.items()})}; "
          f"{time.perf_counter() - t0:.0f} s for {len(W)} windows", file=sys.stderr)
    return dict(windows=len(W), settings=vars(args) | {"json": None}, tracks=out, pooled=pooled)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, default=None, help="first N held-out windows (default all 219)")
    ap.add_argument("--rc", action="store_true", help="forward + reverse-complement ensemble")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--min-len", type=int, default=4)
    ap.add_argument("--max-len", type=int, default=30)
    ap.add_argument("--null", default="pooled")
    ap.add_argument("--clip", type=float, default=1e-3)
    ap.add_argument("--merge-gap", type=int, default=5, help="join opposite-sign neighbours within N bp (-1: never)")
    ap.add_argument("--query", default="contribution",
                    help="TOMTOM query matrix, or several separated by commas (the first is pooled)")
    ap.add_argument("--max-q", type=float, default=0.5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    res = run(args)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
