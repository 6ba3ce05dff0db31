"""Seed sources for load_seeds: snippet extraction (``snippets``) and code sources (``sources``);
row files are read by ``synthkit.data.records.read_rows``."""
