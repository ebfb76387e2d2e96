"""Agent views, one module per resource: agents, their keys, grants, roles, and the agent
runtime API (`/agents/me...`); `pages` holds the querysets and page contexts they share."""
