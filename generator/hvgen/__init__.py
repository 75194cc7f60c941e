"""hvgen: code generator, runtime and local platform for HealthVault imaging data."""

__version__ = "0.1.0"
