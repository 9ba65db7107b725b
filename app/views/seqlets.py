"""Seqlets and motifs of the Attribution view: seqlets called from the current attribution and
named by TOMTOM against a motif database (the bundled JASPAR 2024 set or the user's MEME file),
their boxes on the contribution track and the logo, a table whose selected row zooms the
selected range to that seqlet, knock-out verification on request (which seqlets the prediction
depends on; verified seqlets only by default once verified), FIMO hits of chosen motifs as a track,
and BED/TSV downloads.

UI only: the seqlet caller, TOMTOM and FIMO are the engine's (seqnn_engine.motifs), called and
cached through the engine session (Session.seqlets, Session.fimo).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from app import downloads, state
from app.state import PLOTLY_CONFIG, Ctx
from seqnn_engine import InputError, plot
from seqnn_engine.session import KNOCKOUT_OPTIONS, MATCH_K, MotifDatabase, knockout_passes, knockout_table, seqlet_table

SEQLET_ZOOM_MARGIN = 10      # bp shown on each side of a seqlet picked in the table
TABLE_KEY = "seqlet_table"


@dataclass
class Seqlets:
    """The seqlets of the current attribution, ready to draw.

    table: the engine's placed SeqletTable; ident: the identity of the rows shown (the result's
    cache key, plus the knock-out's and the verified-only filter when they apply); start, end:
    (N,) display coordinates (half-open); labels: N best-match names ('?' without a match; a
    seqlet that failed verification is marked '✗'); hover: N hover texts; db: the motif database
    used; result: the engine's Seqlets result; req: the attribution request it came from.
    """

    table: object
    ident: str
    start: np.ndarray
    end: np.ndarray
    labels: list
    hover: list
    db: MotifDatabase
    result: object = None
    req: object = None

    def overlapping(self, lo: int, hi: int) -> np.ndarray:
        """Indices of the seqlets overlapping the display range [lo, hi)."""
        return np.flatnonzero((self.start < hi) & (self.end > lo))


# ----------------------------------------------------------------------------------- range from a table row

def picked_range() -> tuple | None:
    """The display range of a seqlet newly picked in the table (with a margin), else None.

    Called by the explore page before the range slider is drawn; the table of the previous run
    left its rows' spans in ``st.session_state['seqlet_spans']``.
    """
    info = st.session_state.get("seqlet_spans")
    sel = st.session_state.get(TABLE_KEY)
    try:
        rows = list(sel["selection"]["rows"])
    except (KeyError, TypeError):
        rows = []
    if not info:
        return None
    pick = (info["ident"], int(rows[0]) if rows else None)
    if pick == st.session_state.get("seqlet_pick"):
        return None
    st.session_state["seqlet_pick"] = pick
    if pick[1] is None or not 0 <= pick[1] < len(info["spans"]):
        return None
    lo, hi = info["spans"][pick[1]]
    return int(lo) - SEQLET_ZOOM_MARGIN, int(hi) + SEQLET_ZOOM_MARGIN


def _remember_spans(s: Seqlets) -> None:
    info = st.session_state.get("seqlet_spans")
    if info is None or info["ident"] != s.ident:
        # a new table: the selection left on the widget belongs to the old one, so it must not zoom
        sel = st.session_state.get(TABLE_KEY)
        try:
            rows = list(sel["selection"]["rows"])
        except (KeyError, TypeError):
            rows = []
        st.session_state["seqlet_pick"] = (s.ident, int(rows[0]) if rows else None)
    st.session_state["seqlet_spans"] = {"ident": s.ident,
                                        "spans": [(int(a), int(b)) for a, b in zip(s.start, s.end)]}


# ----------------------------------------------------------------------------------- motif database

def database(where) -> MotifDatabase | None:
    """The motif database widgets (upload a MEME file; choose it or JASPAR) and the chosen database.

    A malformed upload shows an error and keeps the database the user had.
    """
    try:
        jaspar = _jaspar()
    except InputError as e:
        state.show_error(e, where)
        return None
    with where.expander("Motif database", expanded=False):
        st.caption(f"Bundled: {jaspar.label} ({len(jaspar.motifs)} motifs; Rauluseviciute et al., NAR 2024; "
                   "CC BY 4.0). Upload a MEME file (HOCOMOCO, CIS-BP, ...) to name seqlets with it instead.")
        up = st.file_uploader("MEME motif file", type=["meme", "txt"], key="meme_upload")
        if up is not None:
            data = up.getvalue()
            cur = st.session_state.get("user_meme")
            if cur is None or cur[1] != (up.name, len(data)) or cur[2] != data:
                try:
                    db = MotifDatabase.parse(data, up.name)
                except InputError as e:
                    st.error(f"{e}")
                else:
                    st.session_state["user_meme"] = (db, (up.name, len(data)), data)
                    st.session_state["motif_db"] = "user"
        user = st.session_state.get("user_meme")
        if user is None:
            return jaspar
        db = user[0]
        choice = st.radio("Name seqlets with", ["jaspar", "user"], key="motif_db", horizontal=True,
                          format_func=lambda k: jaspar.label if k == "jaspar" else
                          f"{db.label} ({len(db.motifs)} motifs)")
    return db if choice == "user" else jaspar


@st.cache_resource(show_spinner=False)
def _jaspar() -> MotifDatabase:
    return MotifDatabase.jaspar()


# ----------------------------------------------------------------------------------- seqlets

def compute_seqlets(ctx: Ctx, res, method: str, db: MotifDatabase) -> Seqlets | None:
    """The annotated seqlets of the attribution ``res`` (cached), placed on the display coordinates."""
    targets = ",".join(ctx.target_names())
    req = ctx.request(method=method)
    with st.spinner("Calling seqlets and matching them to motifs ..."):
        r = ctx.session.seqlets(res, req, db, targets_label=targets, objective_label=ctx.opts.objective)
    tab = seqlet_table(r, ctx.ref_name(), ctx.inp.start, ctx.chrom_sizes())
    return _view(tab, r.key, db, r, req)


def _view(tab, ident: str, db: MotifDatabase, result, req) -> Seqlets:
    labels, hover = [], []
    m = tab.matches
    for i in range(len(tab)):
        hit = [j for j in range(m.ids.shape[1]) if m.ids[i, j]]
        best = str(m.names[i, hit[0]]) if hit else "?"
        match_txt = "; ".join(f"{m.names[i, j]} {m.ids[i, j]} q={m.q_value[i, j]:.2g}" for j in hit) or "no match"
        ko_txt = ""
        if tab.has_knockout:
            ok = bool(tab.verified[i])
            best = best if ok else f"✗ {best}"
            ko_txt = (f" | knock-out {tab.ko_effect[i]:+.3g} q={tab.ko_q[i]:.2g} "
                      f"{'verified' if ok else 'not verified'}")
        labels.append(best)
        hover.append(f"{int(tab.genome_start[i]):,}-{int(tab.genome_end[i]):,} score {tab.score[i]:.3g} "
                     f"p={tab.p_value[i]:.2g} | {match_txt}{ko_txt}")
    s = Seqlets(tab, ident, np.asarray(tab.genome_start, np.int64), np.asarray(tab.genome_end, np.int64),
                labels, hover, db, result, req)
    _remember_spans(s)
    return s


def verification(ctx: Ctx, s: Seqlets | None, where) -> Seqlets | None:
    """The knock-out verification widgets and, when asked for, the seqlets with their knock-out columns
    (only the verified ones unless the user asks for all). The knock-out runs as an engine job (queued
    when heavy, with progress and Cancel); until it is done, or when it fails, the seqlets stay as called."""
    if s is None or not len(s.table):
        return s
    o = KNOCKOUT_OPTIONS
    n_passes = knockout_passes(len(s.table))
    on = where.checkbox("Verify seqlets by knock-out", key="seqlet_verify",
                        help=f"Replace each seqlet by random bases ({o['n_shuffles']} draws) and test the change of "
                             f"the objective against {o['n_null']} knock-outs of background spans (BH q <= "
                             f"{o['alpha']}); a verified seqlet's knock-out moves the objective its way by at least "
                             f"{o['min_share']:.0%} of its summed contribution. {n_passes:,} forward passes per "
                             "ensemble member.")
    if not on:
        return s
    try:
        job = ctx.session.seqlet_knockout_job(s.result, s.req)
        with where:
            ko = state.result(job, "Knock-out verification", where=where)
    except InputError as e:
        state.show_error(e, where)
        return s
    if ko is None:
        return s
    tab = s.table.with_knockout(knockout_table(ko))
    only = where.toggle("Verified seqlets only", value=True, key="seqlet_verified_only")
    notes = []
    if ko.meta.get("mc_ignored"):
        notes.append("MC-dropout samples are not drawn for the knock-out (deterministic predictions)")
    if len(ko.meta.get("replicates") or []) > 1:
        notes.append(f"effects averaged over replicates {', '.join(map(str, ko.meta['replicates']))}")
    where.caption(f"{int(np.sum(tab.verified))} of {len(tab)} seqlet(s) verified by knock-out"
                  + (f" ({'; '.join(notes)})" if notes else "") + ".")
    ident = f"{s.ident}:ko:{ko.key}"
    if only:
        tab, ident = tab.take(tab.verified), ident + ":verified"
    return _view(tab, ident, s.db, s.result, s.req)


def draw_boxes(fig, s: Seqlets | None, values: np.ndarray, lo: int | None = None, hi: int | None = None) -> None:
    """Seqlet boxes labelled with their best match on ``fig`` (those overlapping [lo, hi) when given)."""
    if s is None or not len(s.start):
        return
    idx = np.arange(len(s.start)) if lo is None else s.overlapping(lo, hi)
    if not idx.size:
        return
    plot.add_seqlets(fig, s.start[idx], s.end[idx], [s.labels[i] for i in idx],
                        np.asarray(s.table.sign)[idx], values, [s.hover[i] for i in idx])


def table_frame(ctx: Ctx, s: Seqlets):
    """The seqlet table shown on the page (display coordinates, best 3 matches)."""
    import pandas as pd
    tab, m = s.table, s.table.matches
    cols = {}
    if ctx.inp.genomic:
        cols["chrom"] = [str(c) for c in tab.chrom]
    cols["start"] = s.start
    cols["end"] = s.end
    cols["contribution"] = np.where(np.asarray(tab.sign) > 0, "+", "-")
    cols["score"] = np.asarray(tab.score, np.float64)
    cols["p-value"] = np.asarray(tab.p_value, np.float64)
    for j in range(MATCH_K):
        cols[f"match {j + 1}"] = [str(v) if v else "" for v in m.names[:, j]]
        cols[f"ID {j + 1}"] = [str(v) if v else "" for v in m.ids[:, j]]
        cols[f"q {j + 1}"] = np.asarray(m.q_value[:, j], np.float64)
    cols["strand"] = [str(v) for v in tab.strand]
    if tab.has_knockout:
        cols["knock-out effect"] = np.asarray(tab.ko_effect, np.float64)
        cols["knock-out q"] = np.asarray(tab.ko_q, np.float64)
        cols["verified"] = np.asarray(tab.verified, bool)
    return pd.DataFrame(cols)


def table_section(ctx: Ctx, s: Seqlets) -> None:
    tab = s.table
    st.markdown("##### Seqlets")
    set_ = tab.settings
    st.caption(f"{len(tab)} seqlet(s) of the attribution above (runs of {set_.get('min_len')}-{set_.get('max_len')} "
               f"bp whose summed contribution is significant against the attribution's own values, "
               f"Bonferroni alpha {set_.get('alpha')} per window), named by TOMTOM against {s.db.label}. "
               f"Coordinates: {ctx.inp.coord_label()}, half-open. Select a row to zoom the range to it."
               + (" Knock-out columns: the change of the objective when the seqlet is replaced by random bases, "
                  "its BH q-value against background knock-outs, and whether the seqlet is verified."
                  if tab.has_knockout else ""))
    if not len(tab):
        return
    st.dataframe(table_frame(ctx, s), key=TABLE_KEY, on_select="rerun", selection_mode="single-row",
                 hide_index=True, width="stretch",
                 column_config={"p-value": st.column_config.NumberColumn(format="%.2e"),
                                "knock-out q": st.column_config.NumberColumn(format="%.2e"),
                                **{f"q {j + 1}": st.column_config.NumberColumn(format="%.2e")
                                   for j in range(MATCH_K)}})
    name = ctx.ref_name()
    extra = (downloads.Download("seqlets_bed", "BED (seqlets)", f"{downloads.safe_stem(ctx.stem())}_seqlets.bed",
                                "text/plain", lambda: tab.to_bed(names=[name])),
             downloads.Download("seqlets_tsv", "TSV (seqlets)", f"{downloads.safe_stem(ctx.stem())}_seqlets.tsv",
                                "text/tab-separated-values", lambda: tab.to_tsv()))
    with st.expander("Download seqlets", expanded=False):
        downloads.render(downloads.ViewData("seqlets", {}, ctx.meta(), stem=ctx.stem(), extra=extra))


# ----------------------------------------------------------------------------------- FIMO

def fimo_section(ctx: Ctx, db: MotifDatabase | None) -> None:
    """FIMO hits of the motifs the user picks, as a track over the window."""
    if db is None:
        return
    st.markdown("##### Motif hits (FIMO)")
    ids = list(db.motifs.ids)
    label = {mid: db.motifs.label(i) for i, mid in enumerate(ids)}
    cur = st.session_state.get("fimo_motifs")
    if cur is not None and any(m not in label for m in cur):
        st.session_state["fimo_motifs"] = [m for m in cur if m in label]
    chosen = st.multiselect(f"Motifs to scan for ({db.label}; type to search names or IDs)", ids, key="fimo_motifs",
                            format_func=lambda m: label.get(m, m))
    if not chosen:
        return
    try:
        with st.spinner("Scanning with FIMO ..."):
            r = ctx.session.fimo(ctx.inp.sequence, db, chosen)
    except InputError as e:
        state.show_error(e)
        return
    names = [f"{n} {i}" if n != i else str(i) for i, n in zip(r["ids"], r["names"])]
    x0 = ctx.inp.start
    starts, ends = x0 + np.asarray(r["start"]), x0 + np.asarray(r["end"])
    hover = [f"{names[int(k)]} {s:,}-{e:,} ({st_}) score {sc:.3g} p={p:.2g}"
             for k, s, e, st_, sc, p in zip(r["motif"], starts, ends, r["strand"], r["score"], r["p_value"])]
    fig = plot.motif_hits_figure(names, np.asarray(r["motif"]), starts, ends, [str(v) for v in r["strand"]], hover,
                                 (x0, x0 + ctx.L), title=f"FIMO hits (p < {r.meta.get('threshold', 0):g})")
    plot.shade_range(fig, ctx.rng)
    st.plotly_chart(fig, key="fimo", config=PLOTLY_CONFIG)
    st.caption(f"{len(hover)} hit(s) of {len(names)} motif(s) in the window.")
