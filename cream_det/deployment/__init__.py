"""Deployed networks: ONNX export, the runtimes that run it (onnxruntime,
OpenVINO), equality checks against PyTorch, latency measured in a runtime
and int8 quantisation. The runtimes are optional packages, imported only
when a session is opened (:mod:`.runtimes`)."""
