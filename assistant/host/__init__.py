"""The engine host: models run in a child process so a crash there never takes the window down."""
