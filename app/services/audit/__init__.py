"""The audit trail: events recorded, chained by hash, signed checkpoints, proofs and exports."""
