"""Publishing a dataset: the Hub layout ``save`` writes (``layout``), its data card
(``card``, with ``summary`` numbers, ``plots`` and the ``provenance`` recorded at
run time), ``push`` (one commit to a Hub dataset repo) and the ``data_cards/``
``gallery``."""
