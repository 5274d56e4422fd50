"""MLflow's scoring protocol: /invocations, /ping, /health and /version."""
