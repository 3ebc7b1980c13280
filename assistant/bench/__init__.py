"""`assistant bench`: latency, accuracy and cost of the real pipeline on recorded commands."""
