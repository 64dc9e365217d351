"""Data sets: finding, checking and loading the IDX files, and the sequence layouts. numpy only, no TensorFlow."""
