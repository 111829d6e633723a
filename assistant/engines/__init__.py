"""Engines: the only modules that import an ML library. Each implements a Protocol from
`assistant.protocols`, so the core never depends on them (imports point inward)."""
