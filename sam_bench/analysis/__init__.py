"""What explains robustness: analyses of trained models and of the paper's argument (theory/: its
linear model of robust and non-robust features, with SAM and AT as feature perturbations)."""
