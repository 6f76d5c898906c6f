"""The report: a reproduction folder read and judged once, the paper's claims judged from its comparisons, REPORT.md
with its sections and plots, the README's findings and summaries, and the pilot that sizes a grid (README.md lists
the modules). It reads what the grid runner (sam_bench.experiments) wrote and runs no model."""
