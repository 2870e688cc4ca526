"""The console's routes, one module per part of the office's work."""
