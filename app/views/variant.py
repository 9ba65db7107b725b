"""Variant view: a variant chosen from an uploaded VCF (the window moves to be centred on it) or a
substitution typed as position + base, scored as the CLI's ``variants`` scores it: on the window
centred on the variant (the genome's, or the user's record for FASTA inputs), each shift predicted
separately; reference vs alternative tracks, their difference, per-target SUM / logSUM / D2, and the
attribution of the score on the REF and ALT windows side by side."""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import downloads, state
from app.state import PLOTLY_CONFIG, Ctx
from app.views import variant_attr, variant_vcf
from seqnn_engine import plot

SOURCES = {"vcf": "From a VCF", "typed": "Position and base"}


def _variant_inputs(ctx: Ctx) -> tuple[int, str] | None:
    inp = ctx.inp
    lo, hi = inp.start, inp.start + ctx.L - 1
    ident = (inp.label, inp.start)
    if st.session_state.get("var_for") != ident:
        st.session_state["var_for"] = ident
        st.session_state["var_pos"] = int((ctx.rng[0] + ctx.rng[1]) // 2)
    c1, c2, c3 = st.columns([2, 1, 3])
    pos = c1.number_input(f"Variant position ({inp.coord_label()})", min_value=lo, max_value=hi, step=1,
                          key="var_pos")
    ref = inp.sequence[int(pos) - inp.start]
    alts = [b for b in "ACGT" if b != ref]
    if st.session_state.get("var_alt") not in alts:
        st.session_state["var_alt"] = alts[0]
    alt = c2.selectbox(f"Alt (ref {ref})", alts, key="var_alt")
    c3.caption(f"Reference base **{ref}** at {int(pos):,}; context "
               f"`{inp.sequence[max(0, int(pos) - inp.start - 5):int(pos) - inp.start]}[{ref}>{alt}]"
               f"{inp.sequence[int(pos) - inp.start + 1:int(pos) - inp.start + 6]}`")
    if ref == "N":
        st.warning("The reference base is N (unknown); the variant replaces an all-zero position.")
    return int(pos), alt


def render(ctx: Ctx) -> None:
    if st.session_state.get("var_source") not in SOURCES:
        st.session_state["var_source"] = "vcf" if st.session_state.get("vcf") else "typed"
    source = st.radio("Variant", list(SOURCES), key="var_source", horizontal=True, format_func=SOURCES.get)
    ses = ctx.session
    if source == "vcf":
        v = variant_vcf.chosen_variant(ctx)
        if v is None:
            return
        vw = ses.vcf_variant_window(v)
        job = ses.vcf_variant_job(v, ctx.request(positions=None))
        pos, label = v.pos0, f"{v.id}: {v.ref}>{v.alt} at {v.chrom}:{v.pos:,} (1-based)"
        if vw.flipped:
            st.caption("Flipped: the genome holds the ALT allele; the scores are still ALT minus REF (as the CLI).")
    else:
        typed = _variant_inputs(ctx)
        if typed is None:
            return
        pos, alt = typed
        vw = ses.typed_variant_window(ctx.inp, pos, alt)
        job = ses.variant_job(ctx.inp, pos, alt, ctx.request(positions=None))
        label = f"{vw.variant.ref}>{alt} at {pos:,}"
    res = state.result(job, "Predicting the reference and alternative alleles", again="Predict the variant again")
    if res is None:
        return
    _scores(ctx, res, pos, label)
    variant_attr.render(ctx, vw)


def _scores(ctx: Ctx, res, pos: int, label: str) -> None:
    tidx = [int(t) for t in res["target_index"]]
    names = [ctx.short[t] for t in tidx]
    ref_p = np.asarray(res["ref"]).mean(0)       # (P, T): mean over shifts
    alt_p = np.asarray(res["alt"]).mean(0)
    start = int(res.meta["window_start"])
    x = ctx.geo.bin_centres(start)
    stats = list(res.meta["stats"])
    scores = {k: np.asarray(res[k]) for k in stats}
    reps = res.meta.get("replicates")
    st.caption(f"Scored on the {ctx.L:,} bp window centred on the variant ({start:,}-{start + ctx.L:,}), "
               "each shift predicted separately, as the CLI's variants command"
               + (f"; the mean over replicates {reps} of each replicate's scores" if reps else "") + ".")
    fig = plot.variant_figure(x, ref_p, alt_p, names, variant_x=pos, title=label)
    st.plotly_chart(fig, key="variant_tracks", config=PLOTLY_CONFIG)
    table = {"target": names, **{k: np.round(v, 6) for k, v in scores.items()}}
    if reps:
        table.update({f"{k} spread": np.round(np.asarray(res[f"{k}_replicate_std"]), 6) for k in stats})
    st.dataframe(table, hide_index=True)
    st.plotly_chart(plot.bar_figure(names, scores, title="Variant scores per target"), key="variant_bars",
                    config=PLOTLY_CONFIG)
    arrays = {"ref_preds": ref_p, "alt_preds": alt_p, "ref_shifts": np.asarray(res["ref"]),
              "alt_shifts": np.asarray(res["alt"]), "target_index": np.asarray(tidx, np.int64),
              "scored_targets": np.asarray(tidx, np.int64)}
    arrays.update(scores)
    with st.expander("Download variant", expanded=False):
        downloads.render(downloads.ViewData(
            "variant", arrays, ctx.meta(variant_position=pos, ref=res.meta["ref"], alt=res.meta["alt"],
                                        variant_window_start=start, flipped=bool(res.meta.get("flipped", False))),
            tracks={f"{n}_alt-ref": alt_p[:, j] - ref_p[:, j] for j, n in enumerate(names)},
            track_start=int(ctx.geo.bin_starts(start)[0]), track_step=ctx.model.stride, chrom=ctx.ref_name(),
            chrom_sizes=ctx.chrom_sizes(), figure=fig, stem=ctx.stem()))
