"""One-off script: extract the demo's JASPAR 2024 matrices into ``jaspar_2024.json``.

This is NOT imported by the engine and is not needed at run time. It documents how the
vendored file ``tools/demo/jaspar_2024.json`` was produced, so its provenance can
be reproduced. pyjaspar (MIT, ~140 MB of sqlite releases) is deliberately kept out of
the project's requirements; run this in a throwaway virtual environment::

    python3.11 -m venv /tmp/jaspar-venv
    /tmp/jaspar-venv/bin/pip install pyjaspar
    /tmp/jaspar-venv/bin/python tools/demo/jaspar_extract.py \
        --out tools/demo/jaspar_2024.json

The matrices are position frequency (count) matrices, rows = positions, columns A C G T,
exactly as stored in the JASPAR 2024 release. The script fails when a requested matrix
version is missing from the release instead of silently choosing another version.
"""
from __future__ import annotations

import argparse
import json
import sys

RELEASE = "JASPAR2024"

# (matrix ID with version, role in the demo genome)
WANTED = [
    ("MA0139.2", "driver"),  # CTCF
    ("MA0080.7", "driver"),  # SPI1 (JASPAR name "Spi1")
    ("MA0466.4", "driver"),  # CEBPB
    ("MA0138.3", "driver"),  # REST
    ("MA0035.5", "decoy"),   # GATA1
    ("MA0095.4", "decoy"),   # YY1 (JASPAR name "Yy1")
    ("MA0047.4", "decoy"),   # FOXA2
]


def extract(release: str = RELEASE) -> dict:
    from pyjaspar import jaspardb  # only available in the throwaway venv

    import pyjaspar

    db = jaspardb(release=release)
    motifs = []
    for matrix_id, role in WANTED:
        m = db.fetch_motif_by_id(matrix_id)
        if m is None or m.matrix_id != matrix_id:
            raise SystemExit(f"{matrix_id} is not in {release}; pick an existing version and record it")
        counts = [[float(m.counts[b][i]) for b in "ACGT"] for i in range(m.length)]
        motifs.append(
            {
                "matrix_id": m.matrix_id,
                "jaspar_name": m.name,
                # the demo's identifier: upper-case gene symbol (track ids equal this name)
                "name": m.name.upper(),
                "role": role,
                "collection": m.collection,
                "tf_class": list(m.tf_class),
                "tf_family": list(m.tf_family),
                "species": list(m.species),
                "data_type": m.data_type,
                "medline": m.medline,
                "counts_ACGT": counts,
            }
        )
    return {
        "source": "JASPAR CORE, release 2024 (https://jaspar.elixir.no/)",
        "release": release,
        "extracted_with": f"pyjaspar {pyjaspar.__version__ if hasattr(pyjaspar, '__version__') else '(unknown version)'}",
        "license": (
            "JASPAR is an open-access database (data usable without restriction; the JASPAR site "
            "states CC BY 4.0). Cite: Rauluseviciute et al., JASPAR 2024, Nucleic Acids Res. 52(D1):"
            "D174-D182 (2024), doi:10.1093/nar/gkad1059."
        ),
        "matrix_format": "counts_ACGT: position frequency matrix, one row per motif position, columns A,C,G,T",
        "motifs": motifs,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--release", default=RELEASE)
    args = ap.parse_args(argv)
    data = extract(args.release)
    with open(args.out, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    print(f"wrote {len(data['motifs'])} matrices to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
