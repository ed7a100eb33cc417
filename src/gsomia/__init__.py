"""gsomia: an agreement-governed exchange for classified military information."""

__version__ = "0.1.0"
