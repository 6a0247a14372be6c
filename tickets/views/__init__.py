"""Pages and endpoints of tickets, one module per audience: `inbound` for the
channels' webhooks (machines), the workspace for agents."""
