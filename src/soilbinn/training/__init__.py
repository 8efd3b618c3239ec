"""Training of BINN and the pure-NN baseline: config, run directories, losses, loop."""
