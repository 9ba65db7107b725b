"""Layer view: gradient x representation heatmaps (units x positions) for chosen layers, and
a targets x positions heatmap of the same quantity summed over units."""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import downloads, state
from app.config import MAX_HEATMAP_COLUMNS
from app.state import PLOTLY_CONFIG, Ctx
from seqnn_engine import plot

MAX_LAYERS = 3


def tap_x(ctx: Ctx, tap) -> np.ndarray:
    """Display coordinate of the centre of each position of a tapped layer."""
    if tap.stride > 0:
        return ctx.inp.start + tap.offset + np.arange(tap.length) * tap.stride + tap.stride / 2.0
    return ctx.inp.start + np.linspace(0, ctx.L, tap.length, endpoint=False)


def render(ctx: Ctx) -> None:
    layers = list(ctx.opts.layers)[:MAX_LAYERS]
    if not layers:
        st.info("Choose one or more layers in the sidebar (Attribution > Layers).")
        return
    if len(ctx.opts.layers) > MAX_LAYERS:
        st.caption(f"Showing the first {MAX_LAYERS} chosen layers.")
    taps = ctx.model.taps
    T = len(ctx.targets)
    req = ctx.request()
    res = state.result(ctx.session.job("layer_gradients", req, layers=layers),
                       f"Layer gradients ({T} target(s) x {len(layers)} layer(s))",
                       again="Compute layer gradients again")
    if res is None:
        return
    st.caption(f"Gradient of each target's prediction summed over the objective bins "
               f"({ctx.opts.objective}); the Statistic ({ctx.opts.statistic}) applies to input attributions "
               "only: layer gradients keep the original per-target definition, so each target's map stays "
               "comparable across statistics.")
    tsorted = sorted(ctx.targets)
    names = [ctx.short[t] for t in tsorted]
    if st.session_state.get("layer_target") not in tsorted:
        st.session_state["layer_target"] = tsorted[0]
    if len(tsorted) > 1:
        t_pick = st.selectbox("Target for the unit heatmaps", tsorted, format_func=lambda t: ctx.short[t],
                              key="layer_target")
    else:
        t_pick = tsorted[0]
    ti = tsorted.index(t_pick)
    arrays = {}
    figs = []
    for i in layers:
        tap = taps[i]
        g = np.asarray(res[f"grads_{i}"])      # (T, P_l, U_l)
        r = np.asarray(res[f"reprs_{i}"])      # (P_l, U_l)
        x = tap_x(ctx, tap)
        st.markdown(f"**{tap.describe()}**")
        fig_u = plot.layer_unit_heatmap(g[ti], r, x,
                                        title=f"gradient x representation, {ctx.short[t_pick]} (units x positions)",
                                        max_cols=MAX_HEATMAP_COLUMNS, x_range=(ctx.inp.start, ctx.inp.start + ctx.L))
        plot.shade_range(fig_u, ctx.rng, outline=True)
        st.plotly_chart(fig_u, key=f"layer_units_{i}", config=PLOTLY_CONFIG)
        fig_t = plot.layer_target_heatmap(g, r, x, names,
                                          title="targets x positions: gradient x representation summed over units",
                                          max_cols=MAX_HEATMAP_COLUMNS, x_range=(ctx.inp.start, ctx.inp.start + ctx.L))
        st.plotly_chart(fig_t, key=f"layer_targets_{i}", config=PLOTLY_CONFIG)
        arrays[f"layer{i}/grads"] = g
        arrays[f"layer{i}/reprs"] = r
        arrays[f"layer{i}/position"] = x
        figs.append(fig_u)
    arrays["targets"] = np.asarray(tsorted, np.int64)
    with st.expander("Download layer gradients", expanded=False):
        downloads.render(downloads.ViewData(
            "layers", arrays, ctx.meta(layers=[taps[i].name for i in layers], layer_targets=tsorted),
            figure=figs[0] if figs else None, stem=ctx.stem()))
