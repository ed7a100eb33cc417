"""The use cases of a party's node (issue 5)."""
