"""The model side of serving, without Flask: schema, metadata, the artifact and its trust,
validation, the model's input, the predictor, answers and the error codes.

model/ (describe, export, publish) uses this package alone.
"""
