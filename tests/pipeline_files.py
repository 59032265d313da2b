"""pipeline.yaml snippets the tests share."""

# Only the stages a test declares itself (and the gate): no install, lint, security or test.
ONLY_OWN_STAGES = """
stages:
  install: {enabled: false}
  lint: {enabled: false}
  security: {enabled: false}
  test: {enabled: false}
"""
