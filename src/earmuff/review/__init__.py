"""Review work: tasks and leases, annotations, agreement, second listens, escalations."""
