"""Always-on stages that look at every chunk: wake word and voice activity."""
