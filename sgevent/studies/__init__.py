"""Studies built on the trainer: run-shd, the resolution study and sparsity sweep, toy tasks, baseline."""
