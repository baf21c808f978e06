"""NightScan Edge: tiny wildlife classifiers for night-time monitoring, shipped to phones."""

__version__ = "0.1.0"
