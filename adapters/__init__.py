"""Adapters: how a case becomes a call of one implementation, and its results come back."""
