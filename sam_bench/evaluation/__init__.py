"""Evaluation: clean, PGD and AutoAttack accuracy with checked attacks, resumable by chunks; per-image
outcomes, degenerate-model checks, batch sizing and plots of results. Imports the basics, training's
method names and the zoo (to load a model by its id)."""
