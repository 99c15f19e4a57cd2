"""The release, in a module of its own: every other module may import it without importing the package."""

__version__ = "0.7.0"
