"""Batch transcription of recorded audio, its output formats, and the search index."""
