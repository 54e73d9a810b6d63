"""The ``Tracker`` protocol and DAT itself (MDNet's tracking loop with reciprocative learning).

Boxes crossing this API are ``x, y, w, h`` in the OTB convention (1-based top-left pixel, as in
``groundtruth_rect.txt``); images are ``HxWx3 uint8`` RGB arrays (grayscale is expanded).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from rlattn.allocator import keep_large_allocations
from rlattn.bbreg import BBoxRegressor
from rlattn.boxes import to_one_based, to_zero_based, validate_init_box, visible_part
from rlattn.config import TrackerConfig
from rlattn.errors import RlattnError
from rlattn.features import feature_extractor
from rlattn.model import DATNet, build_backbone
from rlattn.patches import image_tensor
from rlattn.precision import resolve
from rlattn.sampling import generate, generate_with_overlap
from rlattn.training import SampleMemory, SamplePool, make_optimizer, train_classifier


@runtime_checkable
class Tracker(Protocol):
    """What the experiment runner needs from any tracker (DAT, λ = 0, OpenCV peers...)."""

    name: str

    def init(self, image: np.ndarray, box: np.ndarray) -> None: ...

    def update(self, image: np.ndarray) -> np.ndarray: ...


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Any ``HxW``, ``HxWx1``, ``HxWx3`` or ``HxWx4`` image as ``HxWx3 uint8``."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4) or img.shape[0] < 1 or img.shape[1] < 1:
        raise RlattnError(f"expected an HxW or HxWx3 image, got an array of shape {img.shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return img


@functools.lru_cache(maxsize=4)
def shared_backbone(name: str, weights: str | None, device: str) -> torch.nn.Module:
    """The frozen backbone as the tracker runs it (channels-last for oneDNN's convolutions).

    It is frozen, so every tracker on the same device shares one copy.
    """
    net = build_backbone(name, weights).to(device)
    if name.startswith("efficientnet"):
        net = net.to(memory_format=torch.channels_last)
    return net


def _check_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RlattnError("--device cuda asked for, but torch sees no CUDA device here")
    if not (device == "cpu" or device.startswith("cuda")):
        raise RlattnError(f"unknown device {device!r}; use cpu or cuda")
    return device


class DATTracker:
    """Deep Attentive Tracker. ``DATTracker(TrackerConfig(lam=0))`` is the MDNet baseline, and
    ``feature_attention=True`` with ``lam=0`` the paper's "attentive features" baseline (MDNet+AF)."""

    def __init__(self, config: TrackerConfig | None = None, **overrides) -> None:
        self.config = (config or TrackerConfig()).replace(**overrides)
        self.name = ("DAT" if self.config.lam > 0 else "MDNet") + ("+AF" if self.config.feature_attention else "")
        self.device = _check_device(self.config.device)
        keep_large_allocations()
        self.mining_dtype, mining = resolve(self.config.mining_precision, self.device)
        # the numeric path each step took on this machine (a fallback says why), for result files
        self.compute_paths = {"mining": mining}
        self.timings: dict[str, float] = {}
        self.history: list[dict] = []  # training records, for notebooks and diagnostics
        self.last_scores: np.ndarray | None = None
        self.last_samples: np.ndarray | None = None
        self.net: DATNet | None = None
        # observer for notebooks: called as on_train_step(stage, iteration, record) after each SGD step
        self.on_train_step: Callable[[str, int, dict], None] | None = None
        # diagnostics: each history record also gets the cross-entropy's and the regulariser's
        # gradient norms, their cosine and the clipping (rlattn.training.train_classifier)
        self.record_gradients = False
        # diagnostics (rlattn.diagnostics.update_diagnosis): the true box of frame i, 0-based x,y,w,h
        # (None where unknown). With it every update also scores the true box (last_truth_score);
        # with oracle_updates its new training samples are drawn around the true box instead of
        # the tracker's own estimate: a classifier that still loses the target then cannot tell it
        # from the background, while one that keeps it had been learning its own drift
        self.truth: Callable[[int], np.ndarray | None] | None = None
        self.oracle_updates = False
        self.last_truth_score: float | None = None

    # --- timing ---------------------------------------------------------------------------
    @contextmanager
    def _timed(self, phase: str):
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.device.startswith("cuda"):
                torch.cuda.synchronize()
            self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t0

    # --- helpers ----------------------------------------------------------------------------
    def _features(
        self, image: torch.Tensor, *groups: np.ndarray, around: np.ndarray | None = None
    ) -> list[torch.Tensor]:
        """Features of each group of boxes; all groups share one pass (one region in fast mode,
        resampled for the size of the current target, or of ``around``)."""
        boxes = np.concatenate([np.asarray(g, dtype=np.float64).reshape(-1, 4) for g in groups])
        if len(boxes) == 0:
            feats = torch.zeros((0, self.net.feature_dim), device=self.device)
        else:
            feats = self.extract(image, boxes, self.target if around is None else around)
        return list(feats.split([len(g) for g in groups]))

    def _scores(self, feats: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net.classifier(feats)

    def _draw(
        self,
        kind: str,
        n: int,
        overlap: tuple[float, float],
        trans: float,
        scale: float,
        aspect: float | None = None,
        around: np.ndarray | None = None,
    ) -> np.ndarray:
        """``n`` labelled training boxes of one kind around the current target (or ``around``)."""
        centre = self.target if around is None else around
        return generate_with_overlap(
            self.rng, kind, centre, n, self.image_size, overlap, trans=trans, scale=scale, aspect=aspect
        )

    def _train(self, pos: SamplePool, neg: SamplePool, iters: int, optimizer, stage: str) -> None:
        hook = self.on_train_step
        callback = (lambda it, rec: hook(stage, it, rec)) if hook is not None else None
        records = train_classifier(
            self.net,
            optimizer,
            pos,
            neg,
            iters,
            self.config,
            self.rng,
            callback,
            gradient_stats=self.record_gradients,
            mining_dtype=self.mining_dtype,
        )
        self.timings["attention"] = self.timings.get("attention", 0.0) + sum(r["attention_seconds"] for r in records)
        self.history.extend({"frame": self.frame, "stage": stage, **r} for r in records)

    def _build_model(self) -> None:
        cfg = self.config
        backbone = shared_backbone(cfg.backbone, cfg.weights, self.device)
        # seeded after the backbone: building it (first tracker in a process only, the copy is
        # shared) draws random initial weights before loading the real ones, which gave the
        # first tracker of a process other fc4-fc6 weights than every later one with its seed
        torch.manual_seed(cfg.seed)
        self.net = DATNet(backbone, cfg.img_size, cfg.feature_attention).eval()
        self.extract = feature_extractor(cfg.mode, backbone, cfg.img_size, cfg.padding, cfg.batch_test)

    # --- the protocol ---------------------------------------------------------------------
    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        cfg = self.config
        t0 = time.perf_counter()
        self.timings = {}
        self.history = []
        image = as_rgb(image)
        target = validate_init_box(to_zero_based(box)[0], image.shape, what="initial box")
        self.rng = np.random.default_rng(cfg.seed)
        self.image_size = (image.shape[1], image.shape[0])
        self.frame = 0
        with self._timed("model"):
            self._build_model()
        img_t = image_tensor(image, self.device)
        self.target = target
        rng, size = self.rng, self.image_size
        with self._timed("sampling"):
            pos = self._draw("gaussian", cfg.n_pos_init, cfg.overlap_pos_init, cfg.trans_pos, cfg.scale_pos)
            if len(pos) == 0:
                # samples stay inside the image, so a box reaching far out of it has no positive
                # with IoU >= 0.7: start from its visible part instead (boxes that admit positives,
                # every benchmark's, take the draw above unchanged)
                target = self.target = visible_part(target, image.shape)
                pos = self._draw("gaussian", cfg.n_pos_init, cfg.overlap_pos_init, cfg.trans_pos, cfg.scale_pos)
            n_half = cfg.n_neg_init // 2
            neg = np.concatenate(
                [
                    self._draw("uniform", n_half, cfg.overlap_neg_init, cfg.trans_neg_init, cfg.scale_neg_init),
                    self._draw(
                        "whole", cfg.n_neg_init - n_half, cfg.overlap_neg_init, cfg.trans_neg_init, cfg.scale_neg_init
                    ),
                ]
            )
            neg = rng.permutation(neg)
            bb = self._draw(
                "uniform", cfg.n_bbreg, cfg.overlap_bbreg, cfg.trans_bbreg, cfg.scale_bbreg, cfg.aspect_bbreg
            )
        if len(pos) == 0 or len(neg) == 0:
            raise RlattnError(
                f"could not draw training samples around the initial box {box!r} in a {size[0]}x{size[1]} image"
            )
        with self._timed("features"):
            pos_f, neg_f, bb_f = self._features(img_t, pos, neg, bb)
        images = {0: img_t} if cfg.lam > 0 else {}
        self.init_optimizer = make_optimizer(self.net, cfg, cfg.lr_init)
        with self._timed("train_init"):
            self._train(
                SamplePool(pos_f, pos, np.zeros(len(pos), int), images),
                SamplePool(neg_f, neg, np.zeros(len(neg), int), images),
                cfg.iters_init,
                self.init_optimizer,
                "init",
            )
        with self._timed("bbreg"):
            self.bbreg = BBoxRegressor(cfg.bbreg_alpha).fit(bb_f, bb, target)
        self.memory = SampleMemory(cfg.n_frames_long, cfg.n_frames_short, keep_images=cfg.lam > 0)
        keep_p = rng.permutation(len(pos))[: cfg.n_pos_update]
        keep_n = rng.permutation(len(neg))[: cfg.n_neg_update]
        self.memory.add(
            0, img_t, pos[keep_p], pos_f[torch.as_tensor(keep_p)], neg[keep_n], neg_f[torch.as_tensor(keep_n)]
        )
        self.update_optimizer = make_optimizer(self.net, cfg, cfg.lr_update)
        self.trans = cfg.trans
        self.init_seconds = time.perf_counter() - t0

    def update(self, image: np.ndarray) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("DATTracker.update called before init")
        cfg, rng = self.config, self.rng
        image = as_rgb(image)
        self.image_size = (image.shape[1], image.shape[0])  # frames may change size; follow them
        self.frame += 1
        img_t = image_tensor(image, self.device)
        with self._timed("candidates"):
            samples = generate(
                rng, "gaussian", self.target, cfg.n_samples, self.image_size, trans=self.trans, scale=cfg.scale
            )
            (feats,) = self._features(img_t, samples)
            scores = self._scores(feats)[:, 1]
            top = scores.topk(min(cfg.top_k, len(scores))).indices
            target_score = float(scores[top].mean())
            top_np = top.cpu().numpy()
            self.target = samples[top_np].mean(axis=0)
        self.last_samples, self.last_scores = samples, scores.cpu().numpy()
        truth = self.truth(self.frame) if self.truth is not None else None
        self.last_truth_score = None
        if truth is not None:  # no random numbers drawn: the run's trajectory is unchanged
            (truth_feats,) = self._features(img_t, truth[None], around=truth)
            self.last_truth_score = float(self._scores(truth_feats)[0, 1])
        around = truth if self.oracle_updates else None
        success = target_score > cfg.success_threshold
        self.trans = cfg.trans if success else min(self.trans * cfg.trans_expand, cfg.trans_limit)
        result = self.target
        if success:
            with self._timed("bbreg"):
                result = self.bbreg.predict(feats[top], samples[top_np]).mean(axis=0)
            with self._timed("collect"):
                pos = self._draw(
                    "gaussian", cfg.n_pos_update, cfg.overlap_pos_update, cfg.trans_pos, cfg.scale_pos, around=around
                )
                neg = self._draw(
                    "uniform", cfg.n_neg_update, cfg.overlap_neg_update, cfg.trans_neg, cfg.scale_neg, around=around
                )
                if len(pos) and len(neg):
                    pos_f, neg_f = self._features(img_t, pos, neg, around=around)
                    self.memory.add(self.frame, img_t, pos, pos_f, neg, neg_f)
        with self._timed("update"):
            if not success:
                self._train(
                    self.memory.pool("pos", cfg.n_frames_short),
                    self.memory.pool("neg"),
                    cfg.iters_update,
                    self.update_optimizer,
                    "short",
                )
            elif self.frame % cfg.long_interval == 0:
                self._train(
                    self.memory.pool("pos"), self.memory.pool("neg"), cfg.iters_update, self.update_optimizer, "long"
                )
        self.last_success = success
        self.last_target_score = target_score
        return to_one_based(result)[0]

    # --- resuming a run -------------------------------------------------------------------
    def snapshot(self) -> dict:
        """Everything :meth:`update` reads or changes, as tensors and plain values (loadable with
        ``torch.load(weights_only=True)``): :meth:`restore` in another process continues the run
        with the very same boxes (``tests/test_checkpoints.py``). Frames kept for the regulariser
        are stored as uint8: a centred frame holds integers in [-128, 127], so nothing is lost."""
        if self.net is None:
            raise RuntimeError("DATTracker.snapshot called before init")
        mem = self.memory

        def entries(queue) -> list:
            return [(int(f), torch.from_numpy(np.asarray(b)), feats) for f, b, feats in queue]

        cuda = self.device.startswith("cuda")
        return {
            "frame": self.frame,
            "target": torch.from_numpy(np.asarray(self.target, dtype=np.float64)),
            "trans": float(self.trans),
            "image_size": list(self.image_size),
            "init_seconds": self.init_seconds,
            "timings": dict(self.timings),
            "history": list(self.history),
            "last_success": getattr(self, "last_success", None),
            "last_target_score": getattr(self, "last_target_score", None),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if cuda else None,
            "classifier": self.net.classifier.state_dict(),
            "init_optimizer": self.init_optimizer.state_dict(),
            "update_optimizer": self.update_optimizer.state_dict(),
            "bbreg": {"weights": self.bbreg.weights, "x_mean": self.bbreg.x_mean, "y_mean": self.bbreg.y_mean},
            "memory": {
                "pos": entries(mem.pos),
                "neg": entries(mem.neg),
                "images": {int(f): (img + 128).to(torch.uint8) for f, img in mem.images.items()},
            },
        }

    def restore(self, state: dict) -> None:
        """Continue from a :meth:`snapshot` (of a tracker with this configuration)."""
        cfg = self.config
        self._build_model()  # draws fc4-fc6's initial weights: before the RNG state is set below
        self.net.classifier.load_state_dict(state["classifier"])
        self.init_optimizer = make_optimizer(self.net, cfg, cfg.lr_init)
        self.init_optimizer.load_state_dict(state["init_optimizer"])
        self.update_optimizer = make_optimizer(self.net, cfg, cfg.lr_update)
        self.update_optimizer.load_state_dict(state["update_optimizer"])
        self.bbreg = BBoxRegressor(cfg.bbreg_alpha)
        self.bbreg.weights, self.bbreg.x_mean, self.bbreg.y_mean = (
            state["bbreg"][k].to(self.device) for k in ("weights", "x_mean", "y_mean")
        )
        self.memory = SampleMemory(cfg.n_frames_long, cfg.n_frames_short, keep_images=cfg.lam > 0)
        mem = state["memory"]
        dev = self.device
        self.memory.pos.extend((f, b.numpy(), feats.to(dev)) for f, b, feats in mem["pos"])
        self.memory.neg.extend((f, b.numpy(), feats.to(dev)) for f, b, feats in mem["neg"])
        self.memory.images = {f: img.to(dev).float().sub_(128.0) for f, img in mem["images"].items()}
        self.frame = state["frame"]
        self.target = state["target"].numpy()
        self.trans = state["trans"]
        self.image_size = tuple(state["image_size"])
        self.init_seconds = state["init_seconds"]
        self.timings = dict(state["timings"])
        self.history = list(state["history"])
        self.last_success, self.last_target_score = state["last_success"], state["last_target_score"]
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and self.device.startswith("cuda"):
            torch.cuda.set_rng_state(state["cuda_rng"])
