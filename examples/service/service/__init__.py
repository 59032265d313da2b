"""A small real HTTP service used by the demo pipeline, the deploy strategies and the drills."""

__version__ = "1.0.0"
