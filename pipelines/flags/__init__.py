"""Feature flags per environment, progressive rollout, and an audit trail of every change."""
