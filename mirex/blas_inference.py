"""SampleCNN multi-level features on the CPU by BLAS matrix products.

For inference, each block's batch-norm is folded into its convolution
(``W' = W * s``, ``b' = (b - mean) * s + beta``, ``s = gamma / sqrt(var + eps)``),
and a kernel-3 'same' convolution over a zero-padded sequence ``P`` of shape
``(T + 2, C_in)`` is three accumulating matrix products::

    out[t] = b' + P[t] @ W'[0] + P[t + 1] @ W'[1] + P[t + 2] @ W'[2]

Each is one ``sgemm`` call with ``beta = 1`` into the output, so the bias
costs nothing and no im2col copy is made. The segments of a batch are laid
end to end, each with its own zero padding, so one call covers the batch;
the two junk rows at each segment boundary are never read. Max-pooling is a
reshape and a max, ReLU is applied after the pool (they commute).

On this project's 2-core CPU, OpenBLAS' ``sgemm`` reached 145 GFLOP/s on the
block-2 products against about 95 GFLOP/s for TensorFlow's matrix products,
but end to end, with other processes loading the cores, the engine was not
reliably faster than Keras (OpenBLAS threads suffer under oversubscription),
so it is opt-in (``MIREX_ENGINE=blas``). The result equals the Keras model
(:class:`mirex.embedding.FeatureModel`) within float32 rounding.
"""

from __future__ import annotations

import numpy as np

from .backbones.samplecnn import block_index

__all__ = ["fold_batchnorm", "BlasFeatureModel"]


def fold_batchnorm(model) -> list[dict]:
    """Folded weights of each block of a Keras SampleCNN.

    Returns
    -------
    blocks : list of dict
        Per block, in order: ``kernel`` ``(k, C_in, C_out)`` float32,
        ``bias`` ``(C_out,)`` float32, ``stride``, ``pool`` (bool).
    """
    names = {layer.name for layer in model.layers}
    blocks, i = [], 1
    while f"block{i}_conv" in names:
        conv, bn = model.get_layer(f"block{i}_conv"), model.get_layer(f"block{i}_bn")
        kernel = np.asarray(conv.kernel, dtype=np.float64)
        bias = np.asarray(conv.bias, dtype=np.float64) if conv.use_bias else 0.0
        gamma = np.asarray(bn.gamma, dtype=np.float64) if bn.scale else 1.0
        beta = np.asarray(bn.beta, dtype=np.float64) if bn.center else 0.0
        scale = gamma / np.sqrt(np.asarray(bn.moving_variance, dtype=np.float64) + bn.epsilon)
        shift = (bias - np.asarray(bn.moving_mean, dtype=np.float64)) * scale + beta
        blocks.append({"kernel": (kernel * scale).astype(np.float32),
                       "bias": np.broadcast_to(shift, kernel.shape[2:]).astype(np.float32),
                       "stride": int(conv.strides[0]),
                       "pool": f"block{i}_pool" in names})
        i += 1
    return blocks


class BlasFeatureModel:
    """Drop-in for :class:`mirex.embedding.FeatureModel` computed with BLAS.

    Parameters
    ----------
    backbone : mirex.backbones.Backbone
    batch_segments : int
        Segments per batch (memory: about 10 MB per segment for the paper model).
    """

    def __init__(self, backbone, batch_segments: int = 8):
        from scipy.linalg import blas

        self._sgemm = blas.sgemm
        self.backbone = backbone
        self.batch_segments = int(batch_segments)
        self.blocks = fold_batchnorm(backbone.build())
        self.taps = sorted(block_index(name) for name in backbone.feature_layers)
        self.dim = sum(self.blocks[t - 1]["kernel"].shape[2] for t in self.taps)
        # Fortran-ordered (C_out, C_in) per kernel tap: the BLAS-native transpose.
        self._wt = [[np.asfortranarray(b["kernel"][k].T) for k in range(b["kernel"].shape[0])]
                    for b in self.blocks]

    def _conv3(self, padded: np.ndarray, index: int, steps: int) -> np.ndarray:
        """Kernel-3 'same' block over ``padded`` ``(B * (steps + 2), C_in)``.

        Returns the pre-activation output ``(B, steps + 2, C_out)`` whose
        first ``steps`` rows of each segment are valid.
        """
        block = self.blocks[index]
        rows = len(padded)
        out = np.empty((rows, block["bias"].size), np.float32)
        out[:] = block["bias"]
        valid = out[: rows - 2]
        target = valid.T
        for k, wt in enumerate(self._wt[index]):
            result = self._sgemm(1.0, wt, padded[k : k + rows - 2].T, beta=1.0, c=target,
                                 overwrite_c=1)
            if result is not target:  # BLAS could not write in place
                target[...] = result
        return out.reshape(-1, steps + 2, out.shape[1])

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """``(B, segment_samples)`` -> ``(B, dim)``."""
        batch = len(x)
        taps = []
        first = self.blocks[0]
        steps = x.shape[1] // first["stride"]
        channels = first["bias"].size
        padded = np.zeros((batch, steps + 2, channels), np.float32)
        inner = padded[:, 1:-1]
        np.matmul(x[:, : steps * 3].reshape(batch, steps, 3), first["kernel"][:, 0, :], out=inner)
        inner += first["bias"]
        np.maximum(inner, 0.0, out=inner)
        if 1 in self.taps:
            taps.append(inner.max(axis=1))
        h = padded
        for index in range(1, len(self.blocks)):
            block = self.blocks[index]
            number = index + 1
            if block["kernel"].shape[0] == 3:
                out = self._conv3(h.reshape(-1, h.shape[2]), index, steps)[:, :steps]
            else:  # kernel 1
                flat = np.ascontiguousarray(h[:, 1:-1] if h.shape[1] == steps + 2 else h)
                out = flat.reshape(-1, flat.shape[2]) @ block["kernel"][0] + block["bias"]
                out = out.reshape(batch, steps, -1)
            if block["pool"]:
                steps //= 3
                pooled = np.zeros((batch, steps + 2, out.shape[2]), np.float32)
                inner = pooled[:, 1:-1]
                np.max(out[:, : steps * 3].reshape(batch, steps, 3, out.shape[2]), axis=2,
                       out=inner)
                h = pooled
            else:
                inner = out
                h = out
            np.maximum(inner, 0.0, out=inner)
            if number in self.taps:
                taps.append(inner.max(axis=1))
        return np.concatenate(taps, axis=1)

    def segment_features(self, segments: np.ndarray) -> np.ndarray:
        """Per-segment multi-level features: ``(n_segments, dim)`` float32."""
        from .embedding import run_batched

        return run_batched(self._forward, segments, self.batch_segments, self.dim,
                           self.backbone.segment_samples)
