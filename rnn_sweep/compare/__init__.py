"""Compare: pairing two sweeps' runs, the verdicts on them, the gate, the reproduction check. pandas only."""
