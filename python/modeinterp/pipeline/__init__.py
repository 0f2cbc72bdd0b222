"""Pipeline stages that experiments compose: train, sample, evaluate (one process or torchrun)."""
