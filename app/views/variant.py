"""Variant view: one substitution on the current sequence; reference vs alternative tracks,
their difference, and per-target SUM / logSUM / D2 scores."""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import compute, downloads, state
from app.views.common import PLOTLY_CONFIG, Ctx
from seqnn_engine import InputError, plot


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
    v = _variant_inputs(ctx)
    if v is None:
        return
    pos, alt = v
    inp = ctx.inp
    alt_seq = compute.mutate(inp.sequence, pos - inp.start, alt)
    ens = ctx.opts.ensemble
    key = compute.prediction_key(ctx.model, alt_seq, ens, ctx.targets)
    res = compute.peek_prediction(ctx.cache, ctx.model, alt_seq, ens, ctx.targets)
    if res is None:
        if state.was_cancelled(key):
            st.warning("Variant prediction cancelled.")
            if st.button("Predict the variant again", key="variant_again"):
                state.clear_cancel()
                st.rerun()
            return
        with state.progress("Predicting the alternative allele", key) as cb:
            res = compute.predict(ctx.cache, ctx.model, alt_seq, ens, ctx.targets, progress=cb)
    ref_p = ctx.pred
    if list(ref_p["target_index"]) != list(res["target_index"]):
        raise InputError("reference and alternative predictions cover different targets; pick the targets again")
    cols = ctx.cols
    scores = compute.variant_scores(np.asarray(ref_p["members"])[:, cols], np.asarray(res["members"])[:, cols], ens)
    names = ctx.target_names()
    x = ctx.bin_x()
    fig = plot.variant_figure(x, np.asarray(ref_p["preds"])[:, cols], np.asarray(res["preds"])[:, cols], names,
                              variant_x=pos, title=f"{inp.sequence[pos - inp.start]}>{alt} at {pos:,}")
    st.plotly_chart(fig, key="variant_tracks", config=PLOTLY_CONFIG)
    st.dataframe({"target": names, **{k: np.round(v, 6) for k, v in scores.items()}}, hide_index=True)
    st.plotly_chart(plot.bar_figure(names, scores, title="Variant scores per target"), key="variant_bars",
                    config=PLOTLY_CONFIG)
    arrays = {"ref_preds": ref_p["preds"], "alt_preds": res["preds"], "ref_members": ref_p["members"],
              "alt_members": res["members"], "target_index": ref_p["target_index"],
              "scored_targets": np.asarray(ctx.targets, np.int64)}
    arrays.update({k: np.asarray(v) for k, v in scores.items()})
    bx0 = int(np.floor(x[0] - ctx.model.stride / 2))
    with st.expander("Download variant", expanded=False):
        downloads.render(downloads.ViewData(
            "variant", arrays, ctx.meta(variant_position=pos, ref=inp.sequence[pos - inp.start], alt=alt),
            tracks={f"{n}_alt-ref": np.asarray(res["preds"])[:, c] - np.asarray(ref_p["preds"])[:, c]
                    for n, c in zip(names, cols)},
            track_start=bx0, track_step=ctx.model.stride, chrom=ctx.ref_name(), chrom_sizes=ctx.chrom_sizes(),
            figure=fig, stem=ctx.stem()))
