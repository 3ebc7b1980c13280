"""Understanding commands (hassil templates) and acting on them (handlers)."""
