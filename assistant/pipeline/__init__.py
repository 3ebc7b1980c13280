"""From audio to answers: the turn and the state machine that runs turns."""
