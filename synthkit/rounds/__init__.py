"""Iterative self-distillation: run the stages, train on their output, repeat.

The rounds sit above the pipeline runner: ``Pipeline.run()`` runs stages,
``run_rounds(pipe)`` runs them once per round and trains in between. YAML::

    iterations:
      rounds: 2
      data: round            # or "accumulate": train on every round's rows so far
      train_on: synthesis    # SCoder: the synthesizer learns its synthesis samples; GiFT/RFT: instruction
      train: {max_steps: 20, lora: {r: 8}}   # a `synthkit train` config, minus model/dataset/output_dir
      bootstrap: {llm: {backend: openai, model: ..., base_url: ...}, seeds: 64}   # optional, before round 1
      final: {train: {...}, eval: {tasks: bundled:test}}   # optional: dataset, code model, pass@k report

Modules: ``config`` (the block), ``samples`` (what a round trains on),
``loop`` (rounds, training steps, fingerprints, resume), ``bootstrap`` (the
teacher step), ``final`` (final synthesis, code-model training, evaluation).
"""

from synthkit.rounds.config import IterationsConfig, parse_iterations
from synthkit.rounds.loop import run, run_rounds

__all__ = ["IterationsConfig", "parse_iterations", "run", "run_rounds"]
