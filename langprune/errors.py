"""Placeholder so that the import contracts can name this module; its content comes with 11a
(LangpruneError(message, fix), the base of every user-facing error)."""
