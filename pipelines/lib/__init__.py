"""Pure helpers shared by the code location and the CLI."""
