"""Launch: the preflight checks before Hydra starts, and the Hydra task that trains one job."""
