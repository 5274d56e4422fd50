"""The service's own protocol: /predict, /model and the health routes."""
