"""Pages of the authority funnel: the agent panel, the approval queue, insights."""
