"""Cluster: SLURM through submitit (the scheduler checks and the launcher's work), and submitit's local launcher."""
