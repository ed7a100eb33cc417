"""The web console (issue 6)."""
