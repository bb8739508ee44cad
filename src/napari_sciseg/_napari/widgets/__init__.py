"""Dock widgets: thin translators from layers to the core and back, one per file."""
