"""Neural networks: the parameter network of BINN and the pure-NN SOC baseline."""
