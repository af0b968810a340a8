"""Models in: the built-in zoo and the frontends that turn ONNX files and torch modules into Relax."""
