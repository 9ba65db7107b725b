"""Diagnostics view: ensemble spread, reverse-complement consistency (predictions and
gradients), gradient-vs-ISM agreement."""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import state
from app.state import PLOTLY_CONFIG, Ctx
from seqnn_engine import plot
from seqnn_engine.session import Ensemble


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def render(ctx: Ctx) -> None:
    names = ctx.target_names()
    cols = ctx.cols
    pred = ctx.pred
    ens = ctx.opts.ensemble
    st.markdown("##### Ensemble spread")
    labels = pred.meta.get("member_labels", [])
    if len(labels) <= 1:
        st.caption("One ensemble member: turn on reverse complement, shifts or MC dropout (sidebar > Ensemble) "
                   "to see the spread.")
    mean = np.asarray(pred["preds"])[:, cols]
    sd = np.asarray(pred["sd"])[:, cols]
    rel = sd.mean(0) / np.maximum(np.abs(mean).mean(0), 1e-12)
    st.dataframe({"target": names, "mean prediction": mean.mean(0), "mean sd": sd.mean(0),
                  "max sd": sd.max(0), "mean sd / mean": rel}, hide_index=True)
    st.caption(f"{len(labels)} member(s): {', '.join(labels[:12])}{' ...' if len(labels) > 12 else ''}")

    st.markdown("##### Reverse-complement consistency of the predictions")
    rc_ens = Ensemble(rc=True, shifts=(0,), mc_n=0, n_value=ens.n_value)
    res = state.result(ctx.session.job("predict", ctx.request(ensemble=rc_ens, positions=None)),
                       "Forward and reverse-complement predictions")
    if res is None:
        return
    m = np.asarray(res["members"])[:, cols]  # (P, T, 2): forward, reverse complement (un-augmented)
    r = [_pearson(m[:, j, 0], m[:, j, 1]) for j in range(len(cols))]
    st.dataframe({"target": names, "Pearson r (forward vs RC)": r,
                  "mean |forward - RC|": np.abs(m[..., 0] - m[..., 1]).mean(0)}, hide_index=True)
    x = ctx.bin_x()
    j = 0
    fig = plot.line_figure(x, {f"{names[j]} forward": m[:, j, 0], f"{names[j]} RC": m[:, j, 1]},
                           title=f"Forward vs reverse complement: {names[j]}", height=220)
    st.plotly_chart(fig, key="diag_rc", config=PLOTLY_CONFIG)

    st.markdown("##### Attributions")
    from app.views.attribution import attribution
    with st.spinner("Forward and reverse-complement saliency maps"):
        grads = ctx.session.gradient_diagnostics(ctx.request())
    st.write(f"Gradient RC consistency (forward vs reverse-complement saliency, Pearson r): "
             f"**{float(np.ravel(grads['rc_consistency'])[0]):.3f}**")
    wr = ctx.geo.limit_range(ctx.rng, ctx.session.max_ism_bp())
    w = ctx.positions(wr)
    ism = attribution(ctx, "ism", window=w, start=False)
    if ism is not None:
        st.write(f"Gradient vs ISM on {wr[0]:,}-{wr[1]:,} (Pearson r): "
                 f"**{ctx.session.grad_vs_ism(grads, ism, w):.3f}**")
    else:
        st.caption("Run ISM for the selected range in the Attribution view to see gradient-vs-ISM agreement.")
