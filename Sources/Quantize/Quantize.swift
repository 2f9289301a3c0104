/// Quantize: host-side import of Hugging Face checkpoints (the only place that knows transformers'
/// key names), the family builders that lower them to the graph IR, calibration and packing.
public enum QuantizeModule {}
