//! JSON Schemas of the API models, compiled once per run.
