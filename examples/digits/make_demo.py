#!/usr/bin/env python3
"""Make the bundled digits demo models: pre-train on all 10 digits, fine-tune on digits 0-4 only.

Reproduces the setting of Mai et al., "Fine-Tuning is Fine, if Calibrated" (NeurIPS 2024) on real
data (sklearn's 8x8 handwritten digits, shipped with scikit-learn; nothing is downloaded):

- source domain: the digits as they are; target domain: the digits rotated by ROT_DEG degrees and
  blurred (a shift the pre-trained model handles only partly);
- half of the images (stratified) are the source pre-training set; the other half, transformed, are
  the target domain, split into a fine-tuning pool, a validation set and a test set (disjoint);
- an MLP 64-128-64-10 is pre-trained on the source domain, all 10 classes;
- a copy is fine-tuned, all layers, with SGD on the target fine-tuning pool restricted to
  S = {0,1,2,3,4}; the absent classes U = {5,...,9} are never seen in fine-tuning;
- the numbers printed compare, on the target test split, the pre-trained model, the fine-tuned
  model (gamma = 0) and the fine-tuned model with gamma added to the logits of U, gamma chosen on
  the validation split (sweep, maximising Acc_Y/Y) or from fine-tuning data alone (ALG).

Run from the repository root (CPU only, a few seconds):

    /usr/bin/python3 examples/digits/make_demo.py

Debian packages: python3-torch python3-onnx python3-sklearn python3-numpy python3-scipy.
Writes models/digits-{pretrained,finetuned}/ and examples/digits/data/.
"""
import json
import os
import random

import numpy as np
import onnx
import torch
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 0
ROT_DEG = 30.0  # target-domain rotation (counter-clockwise, degrees)
BLUR_SIGMA = 0.3  # target-domain Gaussian blur (pixels)
S = [0, 1, 2, 3, 4]  # fine-tuning classes
U = [5, 6, 7, 8, 9]  # absent classes
PRE_EPOCHS = 60
PRE_LR = 0.05
FT_EPOCHS = 20
FT_LR = 0.01
MOMENTUM = 0.9
BATCH = 32
ROUND = 4  # decimals of the exported inputs; every number below is computed on the rounded inputs

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA_DIR = os.path.join(REPO, "examples", "digits", "data")
MODELS_DIR = os.path.join(REPO, "models")
LABELS = [str(i) for i in range(10)]


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def shift(images):
    """images: (n, 8, 8) in [0,1] -> rotated + blurred, clipped to [0,1], rounded."""
    out = np.empty_like(images)
    for i, im in enumerate(images):
        r = ndimage.rotate(im, ROT_DEG, reshape=False, order=1, mode="constant", cval=0.0)
        out[i] = ndimage.gaussian_filter(r, BLUR_SIGMA, mode="constant")
    return np.clip(out, 0.0, 1.0)


def mlp():
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(),
        nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def train(model, X, y, epochs, lr, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.long)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=g)
        for k in range(0, len(X), BATCH):
            idx = perm[k:k + BATCH]
            opt.zero_grad()
            loss_fn(model(X[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    return model


@torch.no_grad()
def logits_of(model, X):
    return model(torch.as_tensor(X, dtype=torch.float32)).numpy().astype(np.float64)


def metrics(z, y, gamma=0.0):
    """Acc_S/Y, Acc_U/Y, Acc_Y/Y, Acc_S/S, Acc_U/U (percent) with gamma added to the logits of U."""
    z = z.copy()
    z[:, U] += gamma
    pred = z.argmax(1)
    inS = np.isin(y, S)
    predS = np.array(S)[z[:, S].argmax(1)]
    predU = np.array(U)[z[:, U].argmax(1)]
    return {
        "Acc_S/Y": 100 * np.mean(pred[inS] == y[inS]),
        "Acc_U/Y": 100 * np.mean(pred[~inS] == y[~inS]),
        "Acc_Y/Y": 100 * np.mean(pred == y),
        "Acc_S/S": 100 * np.mean(predS[inS] == y[inS]),
        "Acc_U/U": 100 * np.mean(predU[~inS] == y[~inS]),
    }


def gap(z):
    """g(x) = max_S z - max_U z: the prediction moves from S to U exactly when gamma > g(x)."""
    return z[:, S].max(1) - z[:, U].max(1)


def sweep_gamma(z, y):
    """Exact gamma maximising Acc_Y/Y: the middle of the best interval between sorted breakpoints."""
    g = np.sort(np.unique(gap(z)))
    cands = np.concatenate([[g[0] - 1.0], (g[:-1] + g[1:]) / 2, [g[-1] + 1.0]])
    accs = [metrics(z, y, c)["Acc_Y/Y"] for c in cands]
    best = int(np.argmax(accs))
    # widen to the whole run of equally good intervals and take its middle
    j = best
    while j + 1 < len(cands) and accs[j + 1] == accs[best]:
        j += 1
    lo = g[best - 1] if best > 0 else g[0] - 1.0
    hi = g[j] if j < len(g) else g[-1] + 1.0
    return float((lo + hi) / 2)


def alg_gamma(z, y):
    """Average logit gap on samples of S only: mean non-ground-truth S logit - mean U logit."""
    zs = z[:, S]
    mask = np.ones_like(zs, dtype=bool)
    mask[np.arange(len(y)), np.searchsorted(S, y)] = False
    return float(zs[mask].mean() - z[:, U].mean())


def ausuc(z, y):
    """Area under the seen-absent curve (Acc_S/Y, Acc_U/Y) as gamma runs over R, in [0,1]."""
    g = np.sort(np.unique(gap(z)))
    cands = np.concatenate([[g[0] - 1.0], (g[:-1] + g[1:]) / 2, [g[-1] + 1.0]])
    # In γ order (the candidates are sorted by γ), as calserve traces it.
    pts = [(metrics(z, y, c)["Acc_U/Y"] / 100, metrics(z, y, c)["Acc_S/Y"] / 100) for c in cands]
    xs, ys = zip(*pts)
    return float(np.trapz(ys, xs))


def export(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.eval()
    torch.onnx.export(
        model, torch.zeros(1, 64), path,
        input_names=["pixels"], output_names=["logits"],
        dynamic_axes={"pixels": {0: "N"}, "logits": {0: "N"}},
        opset_version=13, do_constant_folding=True,
    )
    m = onnx.load(path)
    m.producer_name = "calserve-examples-digits"
    onnx.checker.check_model(m)
    onnx.save(m, path)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def write_ndjson(path, X, y):
    with open(path, "w") as f:
        for x, c in zip(X, y):
            f.write(json.dumps({"input": [float(v) for v in x], "label": str(int(c))}, separators=(",", ":")) + "\n")


def fmt(m):
    return "  ".join(f"{k} {v:5.1f}" for k, v in m.items())


def main():
    seed_everything(SEED)
    digits = load_digits()
    X = digits.images.astype(np.float64) / 16.0  # (1797, 8, 8) in [0,1]
    y = digits.target.astype(np.int64)

    # source half / target half, stratified, disjoint
    idx = np.arange(len(y))
    src_idx, tgt_idx = train_test_split(idx, test_size=0.5, stratify=y, random_state=SEED)
    Xs, ys = X[src_idx].reshape(-1, 64), y[src_idx]
    Xt = np.round(shift(X[tgt_idx]).reshape(-1, 64), ROUND)  # rounded as exported
    yt = y[tgt_idx]
    # target: fine-tuning pool 45%, validation 20%, test 35%
    pool, rest = train_test_split(np.arange(len(yt)), train_size=0.45, stratify=yt, random_state=SEED)
    val, test = train_test_split(rest, train_size=0.20 / 0.55, stratify=yt[rest], random_state=SEED)
    ft = pool[np.isin(yt[pool], S)]  # a fine-tuner only has data of S
    Xft, yft = Xt[ft], yt[ft]
    Xval, yval = Xt[val], yt[val]
    Xte, yte = Xt[test], yt[test]

    pre = train(mlp(), Xs, ys, PRE_EPOCHS, PRE_LR, SEED)
    fine = mlp()
    fine.load_state_dict(pre.state_dict())
    fine = train(fine, Xft, yft, FT_EPOCHS, FT_LR, SEED + 1)

    # source-domain accuracy on held-out images: the target test images before the shift
    z_pre_src = logits_of(pre, np.round(X[tgt_idx][test].reshape(-1, 64), ROUND))
    z_pre, z_ft = logits_of(pre, Xte), logits_of(fine, Xte)
    g_sweep = sweep_gamma(logits_of(fine, Xval), yval)
    g_alg = alg_gamma(logits_of(fine, Xft), yft)
    g_oracle = sweep_gamma(z_ft, yte)

    print(f"data: {len(ys)} source train | target: {len(yft)} fine-tune (digits 0-4 only, "
          f"of a pool of {len(pool)}), {len(yval)} val, {len(yte)} test")
    print(f"shift: rotate {ROT_DEG:g} deg + gaussian blur sigma {BLUR_SIGMA:g}; inputs rounded to {ROUND} decimals")
    print(f"pre-trained, source domain (the test images unshifted)  Acc_Y/Y {metrics(z_pre_src, yte)['Acc_Y/Y']:5.1f}")
    print("target test split (percent):")
    print(f"  pre-trained                      {fmt(metrics(z_pre, yte))}  AUSUC {ausuc(z_pre, yte):.3f}")
    print(f"  fine-tuned, gamma = 0            {fmt(metrics(z_ft, yte))}  AUSUC {ausuc(z_ft, yte):.3f}")
    print(f"  fine-tuned, gamma = {g_sweep:6.3f} (val sweep, max Acc_Y/Y)  {fmt(metrics(z_ft, yte, g_sweep))}")
    print(f"  fine-tuned, gamma = {g_alg:6.3f} (ALG, fine-tune data)     {fmt(metrics(z_ft, yte, g_alg))}")
    print(f"  fine-tuned, gamma = {g_oracle:6.3f} (test sweep, oracle)    {fmt(metrics(z_ft, yte, g_oracle))}")

    # --- files ---------------------------------------------------------------------------------
    os.makedirs(DATA_DIR, exist_ok=True)
    write_ndjson(os.path.join(DATA_DIR, "finetune.ndjson"), Xft, yft)
    write_ndjson(os.path.join(DATA_DIR, "val.ndjson"), Xval, yval)
    write_ndjson(os.path.join(DATA_DIR, "test.ndjson"), Xte, yte)
    with open(os.path.join(DATA_DIR, "test.csv"), "w") as f:
        f.write(",".join([f"p{i}" for i in range(64)] + ["label"]) + "\n")
        for x, c in zip(Xte, yte):
            f.write(",".join([repr(float(v)) for v in x] + [str(int(c))]) + "\n")

    export(fine, os.path.join(MODELS_DIR, "digits-finetuned", "1", "model.onnx"))
    export(pre, os.path.join(MODELS_DIR, "digits-pretrained", "1", "model.onnx"))
    write_json(os.path.join(MODELS_DIR, "digits-finetuned", "model.json"), {
        "labels": LABELS,
        "fine_tuning_classes": [str(c) for c in S],
        "input": {"name": "pixels", "shape": [64], "dtype": "float32"},
        "output": {"name": "logits"},
        "description": (
            "MLP 64-128-64-10 on 8x8 handwritten digits (sklearn load_digits, pixels scaled to [0,1], "
            "row-major). Pre-trained on upright digits 0-9, then all layers fine-tuned on digits 0-4 only "
            f"of a target domain rotated {ROT_DEG:g} degrees and blurred; digits 5-9 are absent classes. "
            "Made by examples/digits/make_demo.py."
        ),
    })
    write_json(os.path.join(MODELS_DIR, "digits-pretrained", "model.json"), {
        "labels": LABELS,
        "fine_tuning_classes": LABELS,
        "input": {"name": "pixels", "shape": [64], "dtype": "float32"},
        "output": {"name": "logits"},
        "description": (
            "The pre-trained starting point of digits-finetuned: MLP 64-128-64-10 trained on upright "
            "8x8 digits 0-9 (sklearn load_digits, pixels scaled to [0,1], row-major). Trained on all "
            "ten classes, so there are no absent classes and gamma has no effect. "
            "Made by examples/digits/make_demo.py."
        ),
    })
    print("wrote", DATA_DIR, "and", os.path.join(MODELS_DIR, "digits-{pretrained,finetuned}"))


if __name__ == "__main__":
    main()
