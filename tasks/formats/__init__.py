"""On-disk formats of the real datasets: one module per dataset, read by the readers and
written by the synthetic writers, so the two cannot drift apart."""
