"""Use-cases as library functions: typed inputs in, typed outcomes out. The command line, the
Python API and any other caller share them; only ``pipelines.cli`` renders their outcomes."""
