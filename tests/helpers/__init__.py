"""Helpers shared by the tests, and by bench/ scripts: the one home of test-only code.

Tests import them as ``helpers.<module>`` (pytest puts ``tests/`` on ``sys.path``,
via ``tests/conftest.py``); a bench script adds ``tests/`` to ``sys.path`` first.

- ``tiny``: the tiny random Llama every test and benchmark builds (``tiny_llama``).
- ``corpus``: real stdlib code, disguises (rename, reformat, comment) and near copies.
- ``kill``: SIGKILL a pipeline run mid-stage (the resume tests).
- ``scoder_answers``, ``teacher_stub``: canned model answers for the SCoder tests.
- ``influence``: small training rows and LoRA checkpoints for the influence tests.
- ``sandbox``: sandbox factories and the run-as-another-user helper of the sandbox tests.
- ``hub_server``: a stand-in Hugging Face Hub on 127.0.0.1 (the push tests).
- ``ray_tasks``: ``map`` functions Ray workers import (tests/executors/test_ray.py).
- ``viewer``: ``synthkit view`` in a subprocess (the viewer tests).
"""
