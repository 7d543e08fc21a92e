"""Static int8 quantisation of an exported subnet (calibrated on training images, never validation or
test images). The code lives in `latency.quantize`, so int8 latency tables time the graph that ships."""

from latency.quantize import INT8_FORMAT, quantize_int8

__all__ = ["INT8_FORMAT", "quantize_int8"]
