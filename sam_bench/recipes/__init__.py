"""Recipes: the grids as YAML, read into models, scales, evaluations and endpoints; its modules: README.md."""
