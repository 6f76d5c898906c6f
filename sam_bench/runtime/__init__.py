"""How and where the computation runs: the command's clock and time limits, the process group under
torchrun or srun, fp32's math mode on GPUs, memory layouts per model and device, and the environment a
result records."""
