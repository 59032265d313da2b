"""portable-pipelines: one pipeline definition, run alike on a laptop, in Docker or in Dagger."""

__version__ = "0.1.0"
