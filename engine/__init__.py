"""Specs, runs, workers, pruning and evaluation. Torch is imported only by worker-side modules."""
