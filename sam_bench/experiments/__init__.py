"""Experiments: recipes (recipes/*.yaml), the grid runner (`reproduce`) and where it runs (`executors`:
local or SLURM), the paper's claims judged with the project's statistics, training cost measured for
them, and the report with its README summary."""
