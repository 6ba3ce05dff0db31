"""Near-duplicate removal and benchmark decontamination (no heavy imports here).

Modules:

- ``normalize``, ``shingles``: batch text normalisation (and which rows are code), numpy shingle hashing.
- ``codeview``: the code view of a batch; ``renames``: is one code row the other renamed.
- ``minhash``: ``MinHasher`` (fast mode; datasketch-identical compat modes).
- ``lsh``: band/row choice, band keys, grouping; ``unionfind``: vectorised union-find.
- ``signing``, ``near_dedup``: the disk-backed driver behind the ``dedup_minhash`` stage.
- ``codenorm``, ``benchmarks``, ``contamination``: the ``decontaminate`` stage's detectors.

How memory grows with the dataset: docs/dedup.md, "Memory".
"""
