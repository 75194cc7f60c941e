"""Errors of the store and of blob bytes backends."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot be opened or used as configured (a message for people)."""
