"""The Open Inference Protocol V2 (KServe, Triton, MLServer): /v2/..."""
