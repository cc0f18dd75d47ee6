"""The guardian's review: the workflow table, claims, the queue, decisions, reconsideration,
opinions, panels, metrics."""
