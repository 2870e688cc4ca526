"""The pure core: diploma model, canonical signed record, verification rules.

Nothing in this package imports web, PDF or database libraries (a test enforces it);
adapters at the edges (render, pdfsign, storage, keys, api, cli) depend on it, never
the other way round.
"""
