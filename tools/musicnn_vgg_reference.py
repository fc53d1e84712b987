"""Record the original TF1 graphs of musicnn 0.1.0's VGG taggers on the test clips (run once).

Writes ``tests/data/musicnn_vgg_reference.json`` (about 30 KB): for
``MSD_vgg`` and ``MTT_vgg`` and each clip of
``tests/test_musicnn.py::reference_clips``, the taggram of every 3-s patch;
for the clip ``PATCH_CLIP``, also the mean over its patches of the maximum
and of the mean, over time and frequency, of each of the five pooled maps
(the port's clip ``max_pool`` / ``mean_pool``, 640 each). Rounded to 6
decimals.

The network is musicnn's own: the inference part of the ``.meta`` graph
shipped in the wheel (``model/Sigmoid`` and the five ``max_pooling2d``
outputs, with everything they depend on; the training and gradient nodes
are cut), its variables frozen to the checkpoint's values, run with
``is_training = False``. Only its input is the port's: the log-mel patches of
:func:`mirex.backbones.musicnn.logmel` / ``make_patches``, which
``tests/test_musicnn.py`` checks against musicnn's own librosa front end. So
the fixture tests the VGG network and the checkpoint mapping, with the
project's TensorFlow (the graph is plain TF1 ops)::

    pip download musicnn==0.1.0 --no-deps -d cache/wheels
    PYTHONPATH=. .venv/bin/python tools/musicnn_vgg_reference.py cache/wheels/musicnn-0.1.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "musicnn_vgg_reference.json"
MODELS = ("MSD_vgg", "MTT_vgg")
INPUT, IS_TRAINING, OUTPUT = "model/Placeholder", "model/Placeholder_2", "model/Sigmoid"
#: Clip whose pooled features are stored (the others store taggrams).
PATCH_CLIP = "chords_drums"
POOLS = ["model/max_pooling2d/MaxPool"] + [f"model/max_pooling2d_{i}/MaxPool" for i in range(1, 5)]


def _test_module():
    spec = importlib.util.spec_from_file_location("test_musicnn", ROOT / "tests" / "test_musicnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def frozen_inference_graph(checkpoint_dir: Path):
    """musicnn's inference subgraph of ``checkpoint_dir/.meta``, variables as constants."""
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework import tensor_util
    from tensorflow.python.training import py_checkpoint_reader

    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString((checkpoint_dir / ".meta").read_bytes())
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(meta.graph_def, [OUTPUT] + POOLS)
    reader = py_checkpoint_reader.NewCheckpointReader(str(checkpoint_dir) + os.sep)
    frozen = tf.compat.v1.GraphDef()
    for node in graph_def.node:
        out = frozen.node.add()
        if node.op in ("VariableV2", "Variable"):
            out.name, out.op = node.name, "Const"
            out.attr["dtype"].type = node.attr["dtype"].type
            out.attr["value"].tensor.CopyFrom(
                tensor_util.make_tensor_proto(reader.get_tensor(node.name)))
        else:
            out.CopyFrom(node)
            # TF1 op attributes that newer kernels dropped are harmless to clear
            out.attr.pop("_output_shapes", None)
    return frozen


def run_graph(frozen, patches: np.ndarray) -> dict:
    """``taggram`` (n, 50) and the five pooled maps of ``patches`` (n, 187, 96)."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(frozen, name="")
        with tf.compat.v1.Session(graph=graph) as sess:
            fetched = sess.run([OUTPUT + ":0"] + [p + ":0" for p in POOLS],
                               {INPUT + ":0": patches, IS_TRAINING + ":0": False})
    return {"taggram": fetched[0], "pools": fetched[1:]}


def _r6(x):
    return np.round(np.asarray(x, dtype=np.float64), 6).tolist()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", help="musicnn-0.1.0-py3-none-any.whl (or the unpacked package)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from mirex.backbones.musicnn import logmel, make_patches

    module = _test_module()
    clips = module.reference_clips()
    result = {"about": "musicnn 0.1.0's VGG TF1 graphs (.meta, frozen to the checkpoint) on "
                       "tests/test_musicnn.py::reference_clips; written by "
                       "tools/musicnn_vgg_reference.py",
              "input": "log-mel patches of mirex.backbones.musicnn (187 x 96, no overlap)",
              "tensorflow": tf.__version__, "clips": {}, "models": {}}
    patches = {}
    for name, samples in clips.items():
        y = samples.astype(np.float32) / 32768
        patches[name] = make_patches(logmel(y))
        result["clips"][name] = {"sha256": hashlib.sha256(samples.tobytes()).hexdigest(),
                                 "n_patches": len(patches[name])}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(args.wheel)
        if source.suffix == ".whl":
            with zipfile.ZipFile(source) as wheel:
                wheel.extractall(tmp, [m for m in wheel.namelist()
                                       if m.split("/")[1:2] in ([w] for w in MODELS)])
            source = Path(tmp) / "musicnn"
        for which in MODELS:
            tf.compat.v1.disable_eager_execution()
            frozen = frozen_inference_graph(source / which)
            result["models"][which] = {}
            for name, x in patches.items():
                out = run_graph(frozen, x)
                entry = result["models"][which][name] = {"taggram": _r6(out["taggram"])}
                if name == PATCH_CLIP:
                    for key, reduce in (("max_pool", np.max), ("mean_pool", np.mean)):
                        per_patch = np.concatenate([reduce(p, axis=(1, 2)) for p in out["pools"]],
                                                   axis=1)
                        entry[f"{key}_mean"] = _r6(per_patch.mean(axis=0))
    OUT.write_text(json.dumps(result) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
