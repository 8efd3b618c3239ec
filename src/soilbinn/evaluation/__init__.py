"""Metrics, figures and maps for trained runs."""
