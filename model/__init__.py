"""Offline ML: data (synthetic, catalogues, drift knobs), training, long tails, calibration, OOD, evaluation,
export to a Triton model repository, and the committed repository itself."""
