"""Learning: the spec of a learning run, loss and gradient kernels, eligibility traces."""
