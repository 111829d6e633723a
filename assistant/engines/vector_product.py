"""A question's cosine to every passage vector of the documents library, as one int8 product on onnxruntime.

The library's vectors are kept as int8 rows with a scale each (`documents.vector_index`: a quarter of
float32's memory). Scoring them is a matrix-vector product that reads the whole matrix for every
question, so its cost is the matrix's bytes: at 100,000 passages numpy's float32 product reads 154 MB.
Here the int8 matrix is a constant of a one-node onnxruntime graph (`DynamicQuantizeMatMul`: the
question is quantised to 8 bits per call, the product runs on the CPU's int8 dot-product
instructions over the matrix that onnxruntime packed once when the graph was built); measured on the
same 100,000 random unit vectors on a busy 2-core machine: 18 ms against numpy's 48 ms, the same 50
nearest, cosines within 0.0024. The same matrix given as an input instead of a constant (unpacked per
call) took as long as numpy, so the graph is built again when the library changes (0.3-0.7 s at
100,000 passages, beside the 1.3 s of reading the vectors from SQLite).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

logger = logging.getLogger(__name__)

Scorer = Callable[[np.ndarray], np.ndarray]


def int8_product(threads: int = 0) -> Callable[[np.ndarray, np.ndarray], Scorer]:
    """A factory for `VectorIndex(product=...)`: (codes [dim, rows] int8, scales [rows]) -> scorer,
    where scorer(question [dim] float32) -> the rows' dot products with it [rows] float32; `threads`
    0: the cores this process may use."""
    if threads <= 0:
        from assistant.engines.embeddings import default_threads

        threads = default_threads()

    def build(codes: np.ndarray, scales: np.ndarray) -> Scorer:
        return Int8Product(codes, scales, threads)

    return build


class Int8Product:
    def __init__(self, codes: np.ndarray, scales: np.ndarray, threads: int) -> None:
        started = time.perf_counter()
        dim, rows = codes.shape
        graph = helper.make_graph(
            [helper.make_node("DynamicQuantizeMatMul", ["question", "codes", "scales", "zeros"], ["scores"],
                              domain="com.microsoft")],
            "vector-product",
            [helper.make_tensor_value_info("question", TensorProto.FLOAT, [1, dim])],
            [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, rows])],
            [numpy_helper.from_array(np.ascontiguousarray(codes), "codes"),  # [dim, rows]: B of A @ B
             numpy_helper.from_array(np.ascontiguousarray(scales, dtype=np.float32), "scales"),
             numpy_helper.from_array(np.zeros(rows, np.int8), "zeros")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid("com.microsoft", 1)])
        model.ir_version = 8
        from assistant.engines.embeddings import session_options

        options = session_options(threads)  # threads that sleep rather than spin, as the embedder's
        self._session = ort.InferenceSession(model.SerializeToString(), options,
                                             providers=["CPUExecutionProvider"])
        self.rows = rows
        logger.info("int8 product over %d vectors ready in %.2f s", rows, time.perf_counter() - started)

    def __call__(self, question: np.ndarray) -> np.ndarray:
        query = np.ascontiguousarray(question, dtype=np.float32).reshape(1, -1)
        return self._session.run(None, {"question": query})[0][0]
