"""Prometheus exposition and sinks, and the monitoring stack's config."""
