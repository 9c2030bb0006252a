"""Placeholder so that the import contracts can name this module; its content comes with 11a
(one vocabulary: Sparsity, mix rule, model display name, method/state/stage lists)."""
