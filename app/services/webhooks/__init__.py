"""Webhooks: endpoints, the transactional outbox, the delivery worker and its attempts, pruning, the contract."""
