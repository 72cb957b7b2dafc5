"""Backup, restore, export and import."""
