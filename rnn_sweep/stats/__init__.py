"""Statistics: confidence intervals and tests from scipy.stats, used by the summary and by compare."""
