"""Where a question is written: the text box, attachment chips, drops, pastes, early reading."""
