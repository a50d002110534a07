"""Reading ModelOp's extended Avro schemas (see modelop.schema.infer)."""
