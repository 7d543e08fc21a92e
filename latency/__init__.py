"""Latency lookup tables measured on the user's hardware, and an analytic quantized-FPGA cost model."""
