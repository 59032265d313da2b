"""Pure rules over measured evidence, and the performance comparison."""
