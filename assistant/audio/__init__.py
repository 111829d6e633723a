"""Audio input: push-to-talk recording and conversion to 16 kHz mono."""
