"""The server's own name and version, as /version and V2's server metadata give them."""

# Kept equal to pyproject.toml's version by a test: the bundle carries no package metadata.
SERVER_NAME = "model-prediction-api"
SERVER_VERSION = "1.0.0"
