"""Search a trained supernet under a latency budget and ship the chosen subnet as verified ONNX."""
