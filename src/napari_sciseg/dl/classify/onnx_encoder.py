"""A pretrained encoder from an ONNX file, with hypercolumns at user-named tensors.

An ONNX graph exposes only its outputs; the tensors the user names (any
intermediate value, e.g. ``/layer1/layer1.1/relu_1/Relu_output_0``) are added
as extra outputs before the session is created, so no Python code of the file
runs and nothing is downloaded. A name that is not in the graph is refused with
a list of the graph's tensors to choose from. The file's bytes are copied into
a classifier saved with it (:mod:`.io`), so the model predicts without it.

Examples
--------
>>> from onnx import TensorProto, helper
>>> image = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, None, None])
>>> out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, None, None])
>>> graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]),
...                            helper.make_node("Neg", ["r"], ["y"])], "g", [image], [out])
>>> model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
>>> enc = OnnxEncoder(model.SerializeToString(), ("r",))
>>> [a.shape for a in enc.activations(np.zeros((1, 3, 20, 20), np.float32))]
[(1, 3, 20, 20)]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["OnnxEncoder"]


class OnnxEncoder:
    """An ONNX graph run by onnxruntime, returning the named tensors.

    Parameters
    ----------
    model_bytes : bytes
        The ``.onnx`` file's content.
    layers : sequence of str
        Tensor names whose values make the hypercolumns.
    source : str
        Where the bytes came from (for messages).
    """

    def __init__(self, model_bytes: bytes, layers, *, source: str = "ONNX model"):
        import onnx
        import onnxruntime as ort

        self.model_bytes = bytes(model_bytes)
        self.layers = tuple(layers)
        try:
            model = onnx.load_from_string(self.model_bytes)
        except Exception as exc:  # onnx raises its own decode errors
            raise ValueError(f"{source}: not a readable ONNX file ({exc}).") from None
        names = _tensor_names(model)
        unknown = [n for n in self.layers if n not in names]
        if unknown or not self.layers:
            shown = ", ".join(sorted(names)[:30])
            raise ValueError(
                f"{source}: name the hypercolumn layers (tensors of the graph); "
                f"{'unknown: ' + ', '.join(unknown) + '; ' if unknown else ''}the graph has "
                f"{len(names)} tensors, e.g. {shown}.")
        outputs = {o.name for o in model.graph.output}
        for n in self.layers:
            if n not in outputs:
                model.graph.output.append(onnx.ValueInfoProto(name=n))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(model.SerializeToString(), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    @classmethod
    def from_file(cls, path, layers) -> OnnxEncoder:
        """Read ``path`` (an ``.onnx`` file)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No such ONNX file: {path}")
        return cls(path.read_bytes(), layers, source=str(path))

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """The named tensors for an input batch ``x`` (B, C, Y, X) float32."""
        return self.session.run(list(self.layers), {self.input_name: x.astype(np.float32)})


def _tensor_names(model) -> set:
    names = {i.name for i in model.graph.input} | {o.name for o in model.graph.output}
    for node in model.graph.node:
        names.update(o for o in node.output if o)
    return names - {init.name for init in model.graph.initializer}
