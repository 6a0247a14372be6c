"""Pages of tickets: the agent workspace arrives with the workspace issue."""
