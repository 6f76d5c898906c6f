"""Common corruptions (CIFAR-10-C): RobustBench's third threat model; its modules: README.md."""
