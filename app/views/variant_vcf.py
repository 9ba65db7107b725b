"""The variant view's VCF part: an upload (read by the engine through pysam), the variants of the
window the user chose, and the choice of one, which re-centres the session's input on it (the window
its scores use, as the CLI's ``variants``), so the overview and every view move with it.

State: ``vcf`` {name, variants, serial} (the parsed upload; kept when the view or the input changes),
``var_centre`` {base: (label, start) of the input it was chosen on, variant} (read by
``app.inputs.variant_centred``), ``vcf_pick`` (the selectbox: an index into the listed variants),
``vcf_table`` (the table's row selection: a selected row chooses its variant, as the selectbox does),
``vcf_row_seen`` (table ident, row) of the selection already acted on, ``vcf_row_note`` (table ident,
row) of a selected row that cannot be scored (its reason is shown until another choice).
"""
from __future__ import annotations

import streamlit as st

from app.state import Ctx
from seqnn_engine import InputError

VCF_TYPES = ["vcf", "gz", "bcf"]
TABLE_KEY = "vcf_table"


def _on_upload() -> None:
    from seqnn_engine.session import Session
    up = st.session_state.get("vcf_upload")
    if up is None:
        return
    try:
        serial = int(st.session_state.get("vcf", {}).get("serial", 0)) + 1
        st.session_state["vcf"] = {"name": up.name, "variants": Session.read_vcf_upload(up.getvalue(), up.name),
                                   "serial": serial}
        st.session_state.pop("vcf_error", None)
    except InputError as e:
        st.session_state["vcf_error"] = f"{up.name}: {e}"


def _forget() -> None:
    for k in ("vcf", "vcf_error", "var_centre", "vcf_pick", "vcf_pick_for", "vcf_window", "vcf_row_note"):
        st.session_state.pop(k, None)


def _back() -> None:
    for k in ("var_centre", "vcf_pick", "vcf_pick_for", "vcf_row_note"):
        st.session_state.pop(k, None)


def _new_row(ident) -> int | None:
    """The row newly selected in the table (None when the selection is the one already acted on, was
    cleared, or was left on the widget by an earlier table, which must not choose anything)."""
    sel = st.session_state.get(TABLE_KEY)
    try:
        rows = list(sel["selection"]["rows"])
    except (KeyError, TypeError):
        rows = []
    pick = (ident, int(rows[0]) if rows else None)
    seen = st.session_state.get("vcf_row_seen")
    st.session_state["vcf_row_seen"] = pick
    if seen is None or seen[0] != ident or seen == pick:
        return None
    return pick[1]


def _centre(base, variant) -> None:
    st.session_state["var_centre"] = {"base": (base.label, int(base.start)), "variant": variant}
    st.session_state.pop("vcf_row_note", None)


def chosen_variant(ctx: Ctx):
    """Draw the upload, the list and the choice; returns the chosen variant (a scorable VCF Variant on
    which the window is centred) or None."""
    inp = ctx.inp
    base = inp.origin if inp.origin is not None else inp
    st.file_uploader("Upload a VCF (.vcf, .vcf.gz, .bcf)", type=VCF_TYPES, key="vcf_upload", on_change=_on_upload,
                     help="Read with htslib (pysam); every FILTER value is listed")
    err = st.session_state.get("vcf_error")
    if err:
        st.error(err)
    vcf = st.session_state.get("vcf")
    if vcf is None:
        st.info("Upload a VCF to list its variants in the window, or enter a position and a base instead.")
        return None
    if not base.genomic or not ctx.session.has_genome:
        st.info("A VCF lists genome variants: choose a gene or interval input (a FASTA record has no genome "
                "coordinates), or enter a position and a base instead.")
        return None
    key = (vcf["serial"], str(ctx.session.model_dir), base.label, int(base.start))
    cached = st.session_state.get("vcf_window")
    if cached is None or cached[0] != key:     # the window's list is read once per upload and window
        cached = (key, ctx.session.window_variants(inp, vcf["variants"]))
        st.session_state["vcf_window"] = cached
    wv = cached[1]
    c1, c2 = st.columns([4, 1])
    c1.caption(f"**{vcf['name']}**: {len(wv)} of {wv.n_total:,} variant(s) in the window {base.label} "
               f"({wv.n_other_chrom:,} on other chromosomes, {wv.n_outside:,} elsewhere on {wv.chrom})")
    c2.button("Forget the VCF", key="vcf_forget", on_click=_forget)
    if not len(wv):
        return None
    st.dataframe(wv.table(), hide_index=True, key=TABLE_KEY, on_select="rerun", selection_mode="single-row")
    ok = [i for i in range(len(wv)) if wv.scorable(i)]
    centre = st.session_state.get("var_centre")
    current = None
    if centre is not None:
        current = next((i for i in ok if wv.variants[i] == centre["variant"]), None)
    row = _new_row(key)
    if row is not None and 0 <= row < len(wv):
        if not wv.scorable(row):
            st.session_state["vcf_row_note"] = (key, row)
        elif row != current:
            _centre(base, wv.variants[row])
            st.rerun()
    note = st.session_state.get("vcf_row_note")
    if note is not None and note[0] == key:
        v = wv.variants[note[1]]
        st.warning(f"{v.id} ({v.chrom}:{v.pos:,} {v.ref}>{v.alt}) cannot be chosen: {wv.why_not(note[1])}.")
    ident = (base.label, int(base.start), vcf["name"], current)
    if st.session_state.get("vcf_pick_for") != ident:   # not the user's choice on this list: show the centre
        st.session_state["vcf_pick"] = current
    st.session_state["vcf_pick_for"] = ident
    if not ok:
        st.info("None of these variants can be scored (insertions/deletions or REF mismatches).")
        return None
    label = lambda i: f"{wv.variants[i].id} · {wv.chrom}:{wv.variants[i].pos:,} {wv.variants[i].ref}>{wv.variants[i].alt}"  # noqa: E731
    pick = st.selectbox("Variant (or select a table row; the window is centred on it)", [None] + ok, key="vcf_pick",
                        format_func=lambda i: "choose a variant" if i is None else label(i))
    if pick != current:
        if pick is None:
            _back()
        else:
            _centre(base, wv.variants[pick])
        st.rerun()
    if current is None:
        return None
    st.button(f"Back to the window of {base.label}", key="vcf_back", on_click=_back)
    return wv.variants[current]
