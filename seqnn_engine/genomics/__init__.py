"""Genomics room: reference genomes, gene annotations, gene windows and DNA sequences.

- :mod:`.genome`: indexed FASTA genomes (pysam) and model windows on them;
- :mod:`.genes`: GTF / GFF3 genes, TSSs, gene-centred windows and gene values;
- :mod:`.gene_index`: large annotations by tabix region and a streamed name index;
- :mod:`.sequences`: user FASTA records, fitted to a model's input length;
- :mod:`.onehot`: one-hot DNA encoding, ``(L, 4)`` float32, ACGT order;
- :mod:`.windows`: the model window of a gene, an interval, a FASTA record or a variant.
"""
