"""Online training of fc4-fc6: MDNet's mini-batch loop with hard negative mining, plus Eq. 5.

With λ = 0 the loop works on cached features (the backbone is frozen), exactly like MDNet.
With λ > 0 the attention maps are gradients with respect to the input pixels and need the
backbone in the graph, so patches are re-cropped from their frames:

* ``mode="exact"`` (the paper): every sample of the mini-batch, and the cross-entropy uses the
  same pass's scores;
* ``mode="fast"``: the cross-entropy uses the cached (region-pooled) features of the whole
  mini-batch, and ``R`` is computed on a random ``reg_samples`` of it (half positives, half
  negatives), each half scaled by ``batch / subset`` so that its expectation is the batch's
  ``Σ R``. The maps of that subset are the exact mode's: input gradients of each sample's own
  107×107 patch through backbone and classifier (the region-pooled features the cross-entropy
  sees read the same cells, but with the real surroundings instead of grey padding).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rlattn.attention import attention_pair, cross_entropy, regulariser
from rlattn.config import TrackerConfig
from rlattn.patches import extract_patches


@dataclass
class SamplePool:
    """Training samples of one class: features, boxes, and the frame each came from."""

    feats: torch.Tensor
    boxes: np.ndarray
    frame_ids: np.ndarray
    images: dict[int, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.boxes)

    def patches(self, idx: np.ndarray, img_size: int, padding: int) -> torch.Tensor:
        """Re-crop the patches of samples ``idx`` (in that order) from their frames."""
        dtype = next(iter(self.images.values())).dtype if self.images else torch.float32
        out = torch.empty((len(idx), 3, img_size, img_size), device=self.feats.device, dtype=dtype)
        for fid in np.unique(self.frame_ids[idx]):
            rows = np.nonzero(self.frame_ids[idx] == fid)[0]
            out[torch.as_tensor(rows, device=out.device)] = extract_patches(
                self.images[int(fid)], self.boxes[idx[rows]], img_size, padding
            )
        return out


class SampleMemory:
    """Positives of the last ``n_long`` frames and negatives of the last ``n_short`` (MDNet)."""

    def __init__(self, n_long: int, n_short: int, keep_images: bool) -> None:
        self.pos: deque = deque(maxlen=n_long)
        self.neg: deque = deque(maxlen=n_short)
        self.keep_images = keep_images
        self.images: dict[int, torch.Tensor] = {}

    def add(self, frame_id: int, image: torch.Tensor, pos_boxes, pos_feats, neg_boxes, neg_feats) -> None:
        # copies: the features often are views of one pass over both kinds, and a view would keep
        # that pass's whole storage alive for n_long frames (5x the memory, and in every checkpoint)
        self.pos.append((frame_id, pos_boxes, pos_feats.clone()))
        self.neg.append((frame_id, neg_boxes, neg_feats.clone()))
        if self.keep_images:
            self.images[frame_id] = image
            live = {f for f, _, _ in self.pos} | {f for f, _, _ in self.neg}
            for f in [f for f in self.images if f not in live]:
                del self.images[f]

    def pool(self, kind: str, last: int | None = None) -> SamplePool:
        entries = list(self.pos if kind == "pos" else self.neg)
        if last is not None:
            entries = entries[-last:]
        return SamplePool(
            feats=torch.cat([e[2] for e in entries]),
            boxes=np.concatenate([e[1] for e in entries]),
            frame_ids=np.concatenate([np.full(len(e[1]), e[0]) for e in entries]),
            images=self.images,
        )


def _cycle(rng: np.random.Generator, n: int, k: int) -> Iterator[np.ndarray]:
    """Endless batches of ``min(k, n)`` indices walking through fresh permutations (MDNet)."""
    k = min(k, n)
    perm = rng.permutation(n)
    pos = 0
    while True:
        if pos + k > len(perm):
            perm = np.concatenate([perm[pos:], rng.permutation(n)])
            pos = 0
        yield perm[pos : pos + k]
        pos += k


def _clock(cuda: bool) -> float:
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter()


def _subset_regulariser(
    model: nn.Module,
    pos: SamplePool,
    neg: SamplePool,
    pi: np.ndarray,
    ni: np.ndarray,
    cfg: TrackerConfig,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Unbiased estimate of ``Σ R`` over the mini-batch ``pi ∪ ni`` from ``cfg.reg_samples`` of it."""
    kp = min(max(cfg.reg_samples // 2, 1), len(pi))
    kn = min(max(cfg.reg_samples - kp, 1), len(ni))
    sp = rng.choice(pi, kp, replace=False)
    sn = rng.choice(ni, kn, replace=False)
    patches = torch.cat([pos.patches(sp, cfg.img_size, cfg.padding), neg.patches(sn, cfg.img_size, cfg.padding)])
    _, maps_p, maps_n = attention_pair(model, patches, cfg.attention_map)
    labels = torch.cat([torch.ones(kp), torch.zeros(kn)]).to(patches.device)
    r = regulariser(maps_p, maps_n, labels, cfg.eps)
    return r[:kp].sum() * (len(pi) / kp) + r[kp:].sum() * (len(ni) / kn)


def mine_hard(classifier: nn.Module, feats: torch.Tensor, k: int, dtype: torch.dtype = torch.float32) -> np.ndarray:
    """Indices of the ``k`` rows of ``feats`` the classifier scores highest as target (MDNet's hard
    negatives), scored in ``dtype``."""
    with torch.no_grad(), torch.autocast(feats.device.type, dtype=dtype, enabled=dtype != torch.float32):
        target = classifier(feats)[:, 1]
    return target.float().topk(min(k, len(feats))).indices.cpu().numpy()


def _split_backward(
    params: list[torch.Tensor], ce: torch.Tensor, weighted_reg: torch.Tensor, relative: float | None = None
) -> dict:
    """Set ``.grad = ∇CE + ∇(λ Σ R)`` from the two terms' own gradients; their norms and cosine.

    With ``relative`` (a ratio), the regulariser's gradient is first rescaled to ``relative`` times
    the cross-entropy's norm (``cfg.reg_weighting == "relative"``); the norms reported are the
    applied ones."""

    def grads(term: torch.Tensor, retain: bool) -> list[torch.Tensor]:
        if not term.requires_grad:
            return [torch.zeros_like(p) for p in params]
        out = torch.autograd.grad(term, params, retain_graph=retain, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, out)]

    g_ce = grads(ce, retain=True)
    g_reg = grads(weighted_reg, retain=False)
    flat_ce = torch.cat([g.reshape(-1) for g in g_ce])
    flat_reg = torch.cat([g.reshape(-1) for g in g_reg])
    n_ce, n_reg = float(flat_ce.norm()), float(flat_reg.norm())
    if relative is not None:
        k = relative * n_ce / n_reg if n_reg > 0 else 0.0
        g_reg, flat_reg, n_reg = [g * k for g in g_reg], flat_reg * k, n_reg * k
    for p, a, b in zip(params, g_ce, g_reg):
        p.grad = a + b
    cosine = float(flat_ce @ flat_reg) / (n_ce * n_reg) if n_ce > 0 and n_reg > 0 else float("nan")
    return {"grad_ce": n_ce, "grad_reg": n_reg, "grad_cosine": cosine}


def make_optimizer(net: nn.Module, cfg: TrackerConfig, lr: float) -> torch.optim.SGD:
    """SGD over fc4-fc6 with fc6 at ``lr_mult_fc6 × lr`` (and a feature-attention module at
    ``feature_attention_lr_mult × lr``)."""
    clf = net.classifier
    groups = [
        {"params": list(clf.fc4.parameters()) + list(clf.fc5.parameters()), "lr": lr},
        {"params": list(clf.fc6.parameters()), "lr": lr * cfg.lr_mult_fc6},
    ]
    if clf.attention is not None:
        groups.append({"params": list(clf.attention.parameters()), "lr": lr * cfg.feature_attention_lr_mult})
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def train_classifier(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    pos: SamplePool,
    neg: SamplePool,
    iters: int,
    cfg: TrackerConfig,
    rng: np.random.Generator,
    callback: Callable[[int, dict], None] | None = None,
    gradient_stats: bool = False,
    mining_dtype: torch.dtype = torch.float32,
) -> list[dict]:
    """``iters`` SGD steps; returns per-iteration ``{"loss", "ce", "reg", "attention_seconds"}``.

    ``reg`` is Σ R over the mini-batch (its unbiased estimate in fast mode), or its mean with
    ``cfg.reg_reduction == "mean"``. ``attention_seconds``
    is the time spent on the maps, ``R`` and the backward pass through them.

    ``gradient_stats`` also records, before clipping, the norms over fc4–fc6 of the cross-entropy's
    gradient (``grad_ce``) and of ``λ Σ R``'s (``grad_reg``), their cosine, the total norm
    (``grad_total``), whether clipping at ``grad_clip`` fired and the norm after it. The two parts
    come from the one graph (each term differentiated on its own, then summed into ``.grad``), so
    the step is the same as without the statistics up to float rounding.

    ``mining_dtype``: the type hard negatives are scored in (``rlattn.precision.resolve``).
    """
    if len(pos) == 0 or len(neg) == 0:
        return []
    pos_batches = _cycle(rng, len(pos), cfg.batch_pos)
    neg_batches = _cycle(rng, len(neg), cfg.batch_neg_cand)
    params = list(net.classifier.parameters())
    fast = cfg.mode == "fast"
    cuda = pos.feats.device.type == "cuda"
    history = []
    for it in range(iters):
        pi = next(pos_batches)
        cand = next(neg_batches)
        net.eval()
        ni = cand[mine_hard(net.classifier, neg.feats[torch.as_tensor(cand)], cfg.batch_neg, mining_dtype)]
        net.train()
        labels = torch.cat([torch.ones(len(pi)), torch.zeros(len(ni))]).to(pos.feats.device)
        if cfg.lam == 0 or fast:
            scores = net.classifier(torch.cat([pos.feats[torch.as_tensor(pi)], neg.feats[torch.as_tensor(ni)]]))
            ce = cross_entropy(scores, labels)
            reg = torch.zeros((), device=ce.device)
            if cfg.lam > 0:
                t0 = _clock(cuda)
                reg = _subset_regulariser(net, pos, neg, pi, ni, cfg, rng)
        else:
            t0 = _clock(cuda)
            patches = torch.cat(
                [pos.patches(pi, cfg.img_size, cfg.padding), neg.patches(ni, cfg.img_size, cfg.padding)]
            )
            scores, maps_p, maps_n = attention_pair(net, patches, cfg.attention_map)
            ce = cross_entropy(scores, labels)
            reg = regulariser(maps_p, maps_n, labels, cfg.eps).sum()
        if cfg.reg_reduction == "mean":  # R per sample instead of summed over the mini-batch
            reg = reg / (len(pi) + len(ni))
        loss = ce + cfg.lam * reg  # == reciprocative_loss(...) for "sum", kept in parts for the history
        optimizer.zero_grad(set_to_none=True)
        stats = None
        relative = cfg.lam > 0 and cfg.reg_weighting == "relative"
        if gradient_stats or relative:
            split = _split_backward(params, ce, reg if relative else cfg.lam * reg, cfg.lam if relative else None)
            stats = split if gradient_stats else None
        else:
            loss.backward()
        attention_seconds = _clock(cuda) - t0 if cfg.lam > 0 else 0.0
        total = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
        optimizer.step()
        record = {"loss": loss.item(), "ce": ce.item(), "reg": reg.item(), "attention_seconds": attention_seconds}
        if stats is not None:
            stats["grad_total"] = total
            stats["clipped"] = total > cfg.grad_clip
            stats["grad_after_clip"] = min(total, cfg.grad_clip)
            record.update(stats)
        history.append(record)
        if callback is not None:
            callback(it, record)
    net.eval()
    return history
