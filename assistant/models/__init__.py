"""Model files: the catalogue, assembly of packaged weights, downloads, GGUF checks, fit, vision pairs."""
