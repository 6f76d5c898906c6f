"""The package version, in a module of its own: every part may read it without importing the package root."""

__version__ = "0.1.0"
