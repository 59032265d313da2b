"""Report readers and writers. Readers depend on nothing else in the package."""
