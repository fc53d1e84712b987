"""How well does a distilled SampleCNN agree with its musicnn teacher on held-out music?

For every clip of a list (default: the held-out soundtrack task of
``benchmarks/heldout_task.py``, music never used in training), the teacher's
clip-level tag posteriors (mean over its 3-s patches) and the student's
(mean of its sigmoid outputs over the clip's 10 segments) are compared:

- ``auc_top5``: macro ROC-AUC of the student's scores against the teacher's
  top 5 tags of each clip taken as positives (tags with both classes only);
- ``auc_threshold``: the same with the teacher's posteriors > 0.5 positive;
- ``spearman``: mean over clips of the rank correlation of the 50 posteriors.

Prints JSON.

    python benchmarks/student_agreement.py models/samplecnn-msd models/musicnn-msd \\
        [--list cache/heldout_task/all.txt] [--clips 60]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    from scipy.stats import spearmanr

    from mirex.audio import load_segments
    from mirex.backbones import load_backbone
    from mirex.backbones.musicnn import load_musicnn, musicnn_embed
    from mirex.lists import read_paths
    from mirex.pretrain.metrics import tag_agreement

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("student")
    p.add_argument("teacher")
    p.add_argument("--list", default="cache/heldout_task/all.txt")
    p.add_argument("--clips", type=int, default=60, help="evenly spaced clips of the list")
    args = p.parse_args(argv)

    paths = read_paths(args.list)
    paths = [paths[i] for i in np.linspace(0, len(paths) - 1, min(args.clips, len(paths)))
             .astype(int)]
    student = load_backbone(args.student)
    model = student.build()
    teacher, manifest = load_musicnn(args.teacher)
    s_post, t_post = [], []
    for path in paths:
        segments = load_segments(path, sr=student.sample_rate, n_samples=student.segment_samples)
        s_post.append(np.asarray(model.predict(segments[..., None], verbose=0)).mean(axis=0))
        t_post.append(np.asarray(musicnn_embed(teacher, path)["taggram"]).mean(axis=0))
    s_post, t_post = np.array(s_post), np.array(t_post)
    auc5, n5 = tag_agreement(s_post, t_post, top_k=5)
    auc_t, nt = tag_agreement(s_post, t_post, 0.5)
    rho = np.mean([spearmanr(a, b).statistic for a, b in zip(s_post, t_post)])
    result = {"student": student.name, "student_weights": student.weights_sha256[:12],
              "teacher": manifest["name"], "list": args.list, "clips": len(paths),
              "auc_top5": round(auc5, 4), "auc_top5_tags": n5,
              "auc_threshold": round(auc_t, 4), "auc_threshold_tags": nt,
              "spearman": round(float(rho), 4)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
