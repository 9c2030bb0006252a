"""Textual interface. Never imports torch, transformers or lm_eval."""
