"""I/O room: file formats in and out (no model here).

- :mod:`.bed`: BED intervals; :mod:`.vcf`: VCF / BCF variants (pysam);
- :mod:`.tabix`: region access to bgzipped, tabix-indexed text;
- :mod:`.textio`: text from uploads and files (gzip, BOM, line endings);
- :mod:`.export`: exports (bigWig, BED, MoDISco inputs, HDF5 scores files);
- :mod:`.atomic`: atomic file writes.
"""
