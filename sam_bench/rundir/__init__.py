"""A run directory as every reader (the zoo, evaluation, the grid runner, the report) takes it; README.md lists the
modules."""
