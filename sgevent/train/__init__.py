"""Training: configuration, optimisers, batches, the trainer, checkpoints, run directories, Dask."""
