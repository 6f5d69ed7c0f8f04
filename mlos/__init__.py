"""MLOS: a plugin-based model-serving runtime."""

__version__ = "0.1.0"
__all__ = ["__version__"]
