"""Health checks: HTTP, TCP, command and PromQL probes run concurrently with retries."""
