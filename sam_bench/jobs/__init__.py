"""Jobs that share a file system: a lease on a cell or a file made atomically (`lease`), and what
SLURM says of a job (`slurm_state`)."""
