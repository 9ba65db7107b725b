"""Re-runnable build step: write the bundled JASPAR 2024 CORE vertebrates non-redundant MEME file.

Not imported by the engine and not needed at run time. pyjaspar (~140 MB of sqlite releases) is
deliberately not a project dependency; run this in a throwaway virtual environment::

    python3.11 -m venv /tmp/jaspar-venv
    /tmp/jaspar-venv/bin/pip install pyjaspar
    /tmp/jaspar-venv/bin/python tools/extract_jaspar.py \\
        --out seqnn_engine/motifs/data/JASPAR2024_CORE_vertebrates_non-redundant.meme

What it writes: every matrix of ``jaspardb(release='JASPAR2024').fetch_motifs(collection='CORE',
tax_group='vertebrates', all_versions=False)`` (the latest version of each matrix: JASPAR's
"non-redundant" set), sorted by matrix ID, as a MEME version 4 text file. Each motif is
``MOTIF <matrix ID> <name>`` followed by a letter-probability matrix: the JASPAR position frequency
matrix divided by its column total (no pseudocount; ``nsites`` is that total), one row per position,
columns A C G T, and a ``URL`` line pointing at the matrix page. The script checks that the demo
genome's planted matrices (``tools/demo/jaspar_extract.py``) are in the set with the same IDs.
"""
from __future__ import annotations

import argparse
import sys

RELEASE = "JASPAR2024"
# the matrices the demo genome plants (tools/demo/jaspar_extract.py): they must be present
DEMO_IDS = ("MA0139.2", "MA0080.7", "MA0466.4", "MA0138.3", "MA0035.5", "MA0095.4", "MA0047.4")


def meme_text(motifs, release: str, source: str) -> str:
    out = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
           "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", "",
           f"# {source}", ""]
    for m in sorted(motifs, key=lambda m: m.matrix_id):
        counts = [[float(m.counts[b][i]) for b in "ACGT"] for i in range(m.length)]
        nsites = max(sum(r) for r in counts)
        name = "_".join(str(m.name).split())
        out.append(f"MOTIF {m.matrix_id} {name}")
        out.append(f"letter-probability matrix: alength= 4 w= {m.length} nsites= {int(round(nsites))} E= 0")
        for r in counts:
            tot = sum(r)
            out.append(" ".join(f"{v / tot:.6f}" for v in r))
        out.append(f"URL https://jaspar.elixir.no/matrix/{m.matrix_id}/")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--release", default=RELEASE)
    args = ap.parse_args(argv)
    import pyjaspar
    from pyjaspar import jaspardb

    db = jaspardb(release=args.release)
    motifs = db.fetch_motifs(collection="CORE", tax_group="vertebrates", all_versions=False)
    ids = {m.matrix_id for m in motifs}
    missing = [i for i in DEMO_IDS if i not in ids]
    if missing:
        raise SystemExit(f"the demo's matrices {missing} are not in the extracted set")
    version = getattr(pyjaspar, "__version__", "(unknown version)")
    source = (f"JASPAR {args.release[-4:]} CORE vertebrates non-redundant ({len(motifs)} matrices), "
              f"extracted with pyjaspar {version} by tools/extract_jaspar.py; CC BY 4.0, see LICENSE_JASPAR.txt")
    with open(args.out, "w", newline="\n") as fh:
        fh.write(meme_text(motifs, args.release, source))
    print(f"wrote {len(motifs)} matrices to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
