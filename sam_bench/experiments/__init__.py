"""The grid runner: a recipe's cells one at a time (`reproduction`: train, zoo, evaluate, leaderboard entry),
the grid end to end (`reproduce`), where it runs (`executors`: local or SLURM, `slurm_options`, `parallel`) and
the training cost measured for C4 (`step_cost`). It reads its recipes from sam_bench.recipes and leaves the
report to sam_bench.report."""
