"""Model page: geometry, parameters, tappable layers and targets of the chosen model."""
from __future__ import annotations

import streamlit as st



def summary_line(model) -> str:
    return (f"{model.seq_length:,} bp in · {model.target_length} bins x {model.stride} bp "
            f"(crop {model.crop}) · {model.num_targets} targets · {model.n_params:,} parameters")


def render(ses) -> None:
    model = ses.model
    s = model.summary()
    st.subheader(f"Model: {s['name']}")
    c = st.columns(5)
    c[0].metric("Sequence length", f"{model.seq_length:,} bp")
    c[1].metric("Output bins", f"{model.target_length} x {model.stride} bp")
    c[2].metric("Targets", model.num_targets)
    c[3].metric("Parameters", f"{model.n_params:,}")
    c[4].metric("Tappable layers", len(model.taps))
    st.caption(f"head {s['head']} · crop {model.crop} bins per side · strand pairs: "
               f"{'yes' if s['strand_pair'] else 'no'} · dropout (MC samples possible): "
               f"{'yes' if s['dropout'] else 'no'} · digest {model.digest}")
    md = getattr(model, "model_dir", None)
    if md is not None:
        st.caption(f"Directory {md.path.name}: weights {', '.join(w.name for w in md.weights)}"
                   + (f" · genome {md.genome.name}" if md.genome else "")
                   + (f" · genes {md.genes.name}" if md.genes else ""))
    for w in getattr(model, "warnings", []) or []:
        st.warning(str(w))
    st.markdown("##### Tappable layers")
    st.dataframe({"index": [t.index for t in model.taps], "name": [t.name for t in model.taps],
                  "positions": [t.length for t in model.taps], "units": [t.width for t in model.taps],
                  "bp per position": [t.stride for t in model.taps]}, hide_index=True)
    st.markdown("##### Targets")
    short, long = ses.target_labels()
    tt = model.targets
    cat = ses.target_catalog()
    rows = {"index": list(range(model.num_targets)), "identifier": short, "label": long, "group": list(cat.group)}
    if tt is not None and len(tt) == model.num_targets:
        rows["strand"] = [str(x) for x in tt.strand]
    st.caption(" · ".join(f"{g}: {n:,}" for g, n in cat.groups()) + " (display entries: a +/- pair counts once)")
    st.dataframe(rows, hide_index=True)
