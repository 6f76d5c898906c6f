"""Training: the loop (schedule, precision, progress, resumable checkpoints), one step function per
method (standard, sam, asam, at, sam-at) and the SAM optimizer. Imports the basics only."""
