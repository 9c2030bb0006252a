"""DuckDB results database, comparison queries and export. Never imports torch."""
