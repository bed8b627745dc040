"""Renderers: text, DataFrame, markdown/LaTeX/CSV and JSON, all from the same records."""
