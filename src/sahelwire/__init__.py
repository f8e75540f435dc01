"""SahelWire: annotated news on US-Niger security relations, as a versioned HF dataset."""

__all__ = ["__version__"]

__version__ = "0.1.0"
