"""Near-duplicate removal and benchmark decontamination (no heavy imports here).

Modules:

- ``normalize``, ``shingles``: batch normalisation of text rows (and which
  rows are code) and numpy shingle hashing.
- ``codeview``: the code view of a batch (abstract token hashes for LSH,
  concrete tokens for verification); ``renames``: whether one code row is the
  other with names renamed (the check every code candidate pair passes).
- ``minhash``: ``MinHasher`` (fast mode; datasketch-identical compat modes).
- ``lsh``: band/row choice (weighted FP+FN integral), band keys, grouping.
- ``unionfind``: vectorised union-find (roots = lowest row index).
- ``signing``, ``near_dedup``: the disk-backed dedup driver behind the
  ``dedup_minhash`` stage.
- ``codenorm``, ``benchmarks``, ``contamination``: the code normaliser (shared
  with dedup) and the detectors behind the ``decontaminate`` stage.

How memory grows with the dataset in ``dedup_minhash`` (n rows, b bands of r
rows): the text is read in record batches of ``batch_rows`` (RAM per batch,
~100 bytes a character while hashing); signatures ``4*b*r`` bytes a row,
hashes 16 bytes a row, and (with ``verify``) the shingle sets, and (code
rows, always) the concrete tokens, 8 bytes a token, go to memory-mapped files
on disk; the union-find parents and the per-row result
arrays are memory-mapped too (~25 bytes a row); grouping one band holds
``16 * n / parts`` bytes, with ``parts`` chosen from ``memory_mb``. What stays
in RAM regardless: the index of kept rows given to ``Dataset.select`` (8 bytes
per kept row) and the rejected rows themselves (the stage API returns them as
a list).
"""
