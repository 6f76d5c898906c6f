from .sam import SAM, bn_stats_frozen

__all__ = ["SAM", "bn_stats_frozen"]
