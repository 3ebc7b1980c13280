"""Audio types, conversion, sources and sinks."""
