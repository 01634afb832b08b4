"""The files of one exported version in a model repository, as every room names them.

    REPOSITORY/catalog_tagger/config.pbtxt               Triton's configuration of the model
    REPOSITORY/catalog_tagger/N/model.onnx               the network (``model.export``)
    REPOSITORY/catalog_tagger/N/reference_profile.json   contracts.ReferenceProfile, the monitor's reference
    REPOSITORY/catalog_tagger/N/review_thresholds.json   contracts.ReviewThresholds (optional)
"""

from __future__ import annotations

CONFIG_FILE = "config.pbtxt"
ONNX_FILE = "model.onnx"
PROFILE_FILE = "reference_profile.json"
THRESHOLDS_FILE = "review_thresholds.json"
