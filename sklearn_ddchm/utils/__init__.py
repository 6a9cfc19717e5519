"""Internal utilities: the array-API shim, random numbers, optimisers, validation."""
