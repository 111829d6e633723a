"""One conversation turn, from question to stored answer, and what the model is told."""
