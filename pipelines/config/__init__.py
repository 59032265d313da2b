"""The declared types of pipeline.yaml and flags.yaml settings, their loader and schemas."""
