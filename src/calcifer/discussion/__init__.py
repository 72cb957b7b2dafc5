"""Discussion: comments on work items, incidents, services and docs, @mentions, watching, and a work
item's activity timeline."""
