"""Search: one box over docs, services, endpoints, work items and changelog entries (FTS5 / tsvector)."""
