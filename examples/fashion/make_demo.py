#!/usr/bin/env python3
"""Make the bundled Fashion-MNIST image demo: pre-train a small CNN on all 10 classes, fine-tune all
layers on 5 of them in a shifted target domain, export both to ONNX with an `image` block.

The setting of Mai et al., "Fine-Tuning is Fine, if Calibrated" (NeurIPS 2024) on real product
photos (Fashion-MNIST, 28x28 grayscale, from Debian's dataset-fashion-mnist; nothing downloaded):

- source domain: the training images as they are (a subset of PRE_N, to keep training short);
- target domain: test images rotated ROT_DEG degrees and darkened to CONTRAST of their contrast
  (a shift the pre-trained model handles only partly), stored as 8-bit PNG files, so that what
  calserve decodes is exactly what this script computed on;
- splits of the target domain (disjoint): fine-tuning (classes S only), validation and test (all
  classes), written as ImageFolder trees examples/fashion/data/<split>/<label>/<n>.png;
- the CNN is fine-tuned with SGD, all layers, on the fine-tuning split only; U is never seen.

The inputs the models see are exactly calserve's preprocessing of those PNG files: p * (1/255) in
float32, then (x - MEAN) / STD in float32 (the image block written into model.json).

Run from the repository root (CPU, one core, about a minute):

    taskset -c 1 /usr/bin/python3 examples/fashion/make_demo.py

Debian packages: dataset-fashion-mnist python3-torch python3-onnx python3-numpy python3-scipy python3-pil.
Writes models/fashion-{pretrained,finetuned}/ and examples/fashion/data/.
"""
import gzip
import json
import os
import random
import shutil

import numpy as np
import onnx
import torch
from PIL import Image
from scipy import ndimage
from torch import nn

SEED = 0
SRC = "/usr/share/datasets/fashion-mnist"
LABELS = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
S = [0, 1, 2, 3, 4]  # fine-tuning classes
U = [5, 6, 7, 8, 9]  # absent classes
ROT_DEG = 15.0
CONTRAST = 0.7
PRE_N = 12000
PRE_EPOCHS = 4
PRE_LR = 0.05
FT_EPOCHS = 15
FT_LR = 0.01
MOMENTUM = 0.9
BATCH = 64
SPLITS = {"fine-tuning": 400, "validation": 400, "test": 400}
MEAN = 0.2860
STD = 0.3530

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA_DIR = os.path.join(REPO, "examples", "fashion", "data")
MODELS_DIR = os.path.join(REPO, "models")


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def read_idx(name):
    with gzip.open(os.path.join(SRC, name), "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def shift(images):
    """uint8 (n, 28, 28) -> rotated and lower-contrast, uint8 (what the PNG files hold)."""
    out = np.empty_like(images)
    for i, im in enumerate(images):
        r = ndimage.rotate(im.astype(np.float64), ROT_DEG, reshape=False, order=1, mode="constant", cval=0.0)
        out[i] = np.clip(np.round(r * CONTRAST), 0, 255).astype(np.uint8)
    return out


def tensor(images):
    """calserve's preprocessing of 8-bit grayscale images, float32 step by step: [n, 1, 28, 28]."""
    x = (images.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return torch.as_tensor(x[:, None, :, :])


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def train(model, X, y, epochs, lr, seed):
    g = torch.Generator().manual_seed(seed)
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
    return model(X).numpy().astype(np.float64)


def metrics(z, y, gamma=0.0):
    z = z.copy()
    z[:, U] += gamma
    pred = z.argmax(1)
    inS = np.isin(y, S)
    return {
        "Acc_S/Y": 100 * np.mean(pred[inS] == y[inS]),
        "Acc_U/Y": 100 * np.mean(pred[~inS] == y[~inS]),
        "Acc_Y/Y": 100 * np.mean(pred == y),
    }


def sweep_gamma(z, y):
    g = np.sort(np.unique(z[:, S].max(1) - z[:, U].max(1)))
    cands = np.concatenate([[g[0] - 1.0], (g[:-1] + g[1:]) / 2, [g[-1] + 1.0]])
    accs = [metrics(z, y, c)["Acc_Y/Y"] for c in cands]
    return float(cands[int(np.argmax(accs))])


def export(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(
        model, torch.zeros(1, 1, 28, 28), path,
        input_names=["pixels"], output_names=["logits"],
        dynamic_axes={"pixels": {0: "N"}, "logits": {0: "N"}},
        opset_version=13, do_constant_folding=True,
    )
    m = onnx.load(path)
    m.producer_name = "calserve-examples-fashion"
    onnx.checker.check_model(m)
    onnx.save(m, path)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def write_split(name, images, labels):
    root = os.path.join(DATA_DIR, name)
    shutil.rmtree(root, ignore_errors=True)
    for i, (im, c) in enumerate(zip(images, labels)):
        d = os.path.join(root, LABELS[c])
        os.makedirs(d, exist_ok=True)
        Image.fromarray(im, mode="L").save(os.path.join(d, f"{i:04d}.png"), optimize=True)


IMAGE_BLOCK = {
    "size": {"height": 28, "width": 28},
    "resample": "bilinear",
    "rescale_factor": 1 / 255,
    "image_mean": [MEAN],
    "image_std": [STD],
    "color": "grayscale",
    "layout": "nchw",
}


def main():
    seed_everything(SEED)
    Xtr, ytr = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    Xte, yte = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    rng = np.random.default_rng(SEED)
    pre_idx = rng.permutation(len(ytr))[:PRE_N]
    order = rng.permutation(len(yte))
    # Disjoint regions of one permutation, so that validation and test hold every class.
    pool, val_test = order[:5000], order[5000:]
    ft_pool = pool[np.isin(yte[pool], S)][:SPLITS["fine-tuning"]]
    val = val_test[:SPLITS["validation"]]
    test = val_test[SPLITS["validation"]:SPLITS["validation"] + SPLITS["test"]]
    splits = {"fine-tuning": ft_pool, "validation": val, "test": test}
    shifted = {k: shift(Xte[v]) for k, v in splits.items()}

    pre = train(cnn(), tensor(Xtr[pre_idx]), ytr[pre_idx], PRE_EPOCHS, PRE_LR, SEED)
    fine = cnn()
    fine.load_state_dict(pre.state_dict())
    fine = train(fine, tensor(shifted["fine-tuning"]), yte[ft_pool], FT_EPOCHS, FT_LR, SEED + 1)

    yv, yt = yte[val], yte[test]
    z_pre_src = logits_of(pre, tensor(Xte[test]))
    z_pre, z_ft = logits_of(pre, tensor(shifted["test"])), logits_of(fine, tensor(shifted["test"]))
    g = sweep_gamma(logits_of(fine, tensor(shifted["validation"])), yv)
    fmt = lambda m: "  ".join(f"{k} {v:5.1f}" for k, v in m.items())
    print(f"data: {PRE_N} source train | target: {len(ft_pool)} fine-tune (classes 0-4 only), {len(val)} val, {len(test)} test")
    print(f"shift: rotate {ROT_DEG:g} deg, contrast x{CONTRAST:g}")
    print(f"pre-trained, source domain (the test images unshifted)  Acc_Y/Y {metrics(z_pre_src, yt)['Acc_Y/Y']:5.1f}")
    print(f"  pre-trained                 {fmt(metrics(z_pre, yt))}")
    print(f"  fine-tuned, gamma = 0       {fmt(metrics(z_ft, yt))}")
    zv = logits_of(fine, tensor(shifted["validation"]))
    print(f"  (validation: gamma 0 {fmt(metrics(zv, yv))}; gamma {g:.3f} {fmt(metrics(zv, yv, g))})")
    print(f"  fine-tuned, gamma = {g:6.3f}  {fmt(metrics(z_ft, yt, g))} (val sweep, max Acc_Y/Y)")

    for k in splits:
        write_split(k, shifted[k], yte[splits[k]])
    export(fine, os.path.join(MODELS_DIR, "fashion-finetuned", "1", "model.onnx"))
    export(pre, os.path.join(MODELS_DIR, "fashion-pretrained", "1", "model.onnx"))
    common = {"labels": LABELS, "input": {"name": "pixels", "shape": [1, 28, 28], "dtype": "float32"},
              "output": {"name": "logits"}, "image": IMAGE_BLOCK}
    write_json(os.path.join(MODELS_DIR, "fashion-finetuned", "model.json"), {
        "labels": LABELS, "fine_tuning_classes": [LABELS[c] for c in S], **{k: v for k, v in common.items() if k != "labels"},
        "description": (
            "Small CNN on 28x28 grayscale Fashion-MNIST product photos. Pre-trained on upright images of all "
            f"10 classes, then all layers fine-tuned on {', '.join(LABELS[c] for c in S)} only, in a target domain "
            f"rotated {ROT_DEG:g} degrees at {CONTRAST:g} contrast; the other classes are absent. Takes PNG/JPEG/WebP "
            "images (the image block). Made by examples/fashion/make_demo.py."
        ),
    })
    write_json(os.path.join(MODELS_DIR, "fashion-pretrained", "model.json"), {
        "labels": LABELS, "fine_tuning_classes": LABELS, **{k: v for k, v in common.items() if k != "labels"},
        "description": (
            "The pre-trained starting point of fashion-finetuned: a small CNN trained on upright 28x28 "
            "Fashion-MNIST images of all 10 classes. Made by examples/fashion/make_demo.py."
        ),
    })
    print("wrote", DATA_DIR, "and", os.path.join(MODELS_DIR, "fashion-{pretrained,finetuned}"))


if __name__ == "__main__":
    main()
