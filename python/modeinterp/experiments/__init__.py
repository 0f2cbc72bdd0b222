"""End-to-end experiments of the paper (toy mixtures): configs, the reproduce pipeline, reports."""

from .config import ReproduceConfig, config_for
from .reproduce import reproduce

__all__ = ["ReproduceConfig", "config_for", "reproduce"]
