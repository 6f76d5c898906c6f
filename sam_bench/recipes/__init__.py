"""Recipes: the grids as YAML (`*.yaml` here, documented in paper-cifar10.yaml) read into models, scales and
their training settings (`recipe`), a recipe's evaluation as attack specs (`evaluation_block`), and a scale's
primary tests and confirmatory seeds with the commit that fixed them (`endpoints`). Below both the grid runner
(sam_bench.experiments) and the report (sam_bench.report), which read them alike."""
