"""What a project declares (facts, tool groups, its own linters) and its own environment."""
