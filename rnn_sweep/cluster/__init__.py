"""Cluster: SLURM through submitit: the scheduler checks and the launcher's work."""
