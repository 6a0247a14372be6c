"""The authority funnel's outbound (arrives with the authority issue)."""
