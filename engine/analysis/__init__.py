"""Analyses of pruned cells against the dense model: masks, language-specific neurons, layer drift."""
