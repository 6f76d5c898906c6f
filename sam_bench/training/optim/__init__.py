from sam_bench.training.optim.sam import SAM, bn_stats_frozen

__all__ = ["SAM", "bn_stats_frozen"]
