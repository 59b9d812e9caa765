"""Renderings of results: tables (Markdown), plots and grids."""
