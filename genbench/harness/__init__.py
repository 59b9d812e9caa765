"""The harness: runs generators through extractors into metrics, and times sampling."""
