"""Experiment presets shipped with langprune (TOML), and local lm-eval task files."""
