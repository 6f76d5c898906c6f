"""Throughput (`throughput`: `sam-bench bench`) against a faithful re-implementation of the paper's
own training loop (`paper_loop`): `training_throughput` and `evaluation_throughput` time the parts,
each as `measurement` takes one; `environment` names the machine, `targets` judges the issue's speed
targets, `table` prints the record."""
