"""Models dialog, model picker, downloads and the first-run panel."""
