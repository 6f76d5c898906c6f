"""Throughput (`throughput`: `sam-bench bench`) against a faithful re-implementation of the paper's
own training loop (`paper_loop`)."""
