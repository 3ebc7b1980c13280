"""Sound event detection: YAMNet front end and model, events from window scores, music tags."""
