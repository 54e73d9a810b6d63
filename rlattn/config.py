"""The tracker's parameters: one dataclass with the paper's values and MDNet's where it is silent.

Paper (DAT, §5): N1 = 5500 first-frame samples, H1 = 50 iterations at lr 2e-4, mini-batches of
32 positives + 32 negatives, N2 = 256 candidates, H2 = 15 iterations every T = 10 frames at
lr 3e-4, λ = 5. Everything else follows py-MDNet's ``options.yaml`` (see ``SPEC.md`` §1).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

# EfficientNet-Lite0 at stride 16 (the default), the same at stride 8 (dilated stages 4-5), the
# deeper Lite1 / Lite2 (rlattn.model.efficientnet_lite), and the paper's VGG-M (weights by hand)
BACKBONES = ("efficientnet_lite0", "efficientnet_lite0_s8", "efficientnet_lite1", "efficientnet_lite2", "vggm")
MODES = ("exact", "fast")
PRECISIONS = ("float32", "bfloat16")
MAP_KINDS = ("input", "first_layer_energy")  # the attention maps rlattn.attention computes
REDUCTIONS = ("sum", "mean")
WEIGHTINGS = ("fixed", "relative")  # TrackerConfig.reg_weighting
# mdnet = DAT with λ = 0; attfeat = MDNet + a feature-attention module (Table 2); the rest are OpenCV's
DAT_VARIANTS = ("dat", "mdnet", "attfeat")
TRACKERS = (*DAT_VARIANTS, "csrt", "kcf", "nanotrack")
DATASETS = ("otb2013", "otb2015", "otb100", "tb50", "vot2016", "synthetic")


@dataclass
class TrackerConfig:
    # --- network ---------------------------------------------------------------------------
    backbone: str = "efficientnet_lite0"
    weights: str | None = None  # backbone weights file; None = the backbone's default source
    device: str = "cpu"
    seed: int = 0
    img_size: int = 107  # patch side in pixels (MDNet)
    padding: int = 16  # context added around a box before resizing, in patch pixels
    # "exact": a backbone pass per 107x107 patch (the paper, MDNet). "fast": one backbone pass per
    # frame on the region holding all samples + RoIAlign (RT-MDNet), and the attention regulariser
    # on ``reg_samples`` samples of each mini-batch (an unbiased estimate of its batch sum).
    mode: str = "exact"
    reg_samples: int = 8  # fast mode only; half positives, half negatives (trade-off: benchmarks/README.md)

    # --- reciprocative learning (Eq. 3-5) ---------------------------------------------------
    lam: float = 5.0  # λ; 0 gives plain MDNet (cross-entropy only)
    # which map Eq. 3-4 regularise: "input" (Eq. 2, ∂f/∂I at the pixels) or "first_layer_energy"
    # (Σ_c (∂f/∂h_c)² at the first layer's output, the authors' code's map; rlattn.attention)
    attention_map: str = "input"
    # Eq. 5 sums R over the mini-batch like the cross-entropy ("sum", the paper); "mean" divides it by
    # the batch size, so that λ weighs one sample's R against the whole batch's cross-entropy
    # (chapter 11: summed, λ Σ R dominates the clipped step)
    reg_reduction: str = "sum"
    # "fixed": the step follows ∇(CE + λ R), the paper; "relative": the regulariser's gradient is
    # rescaled at every step to λ times the cross-entropy's norm, so λ is a ratio and R can never
    # swamp the cross-entropy before the clipping they share (chapter 11's second fix)
    reg_weighting: str = "fixed"
    eps: float = 1e-8  # guards the μ/σ and σ/μ ratios
    # Table 2's other way to attend: a module re-weighting the feature cells before fc4, learned
    # with the classifier (rlattn.model.feature_attention); the paper's variant has λ = 0
    feature_attention: bool = False
    # the module's learning rate in units of fc4's: a new layer learns at 10x, like MDNet's fc6;
    # at 1x it hardly leaves the identity (chapter 6 draws both)
    feature_attention_lr_mult: float = 10.0

    # --- first frame: model initialisation -------------------------------------------------
    n_pos_init: int = 500
    n_neg_init: int = 5000  # half uniform around the target, half over the whole image
    overlap_pos_init: tuple[float, float] = (0.7, 1.0)
    overlap_neg_init: tuple[float, float] = (0.0, 0.5)
    trans_neg_init: float = 1.0
    scale_neg_init: float = 1.6
    iters_init: int = 50  # H1
    lr_init: float = 2e-4

    # --- bounding-box regression -----------------------------------------------------------
    n_bbreg: int = 1000
    overlap_bbreg: tuple[float, float] = (0.6, 1.0)
    trans_bbreg: float = 0.3
    scale_bbreg: float = 1.6
    aspect_bbreg: float = 1.1
    bbreg_alpha: float = 1000.0

    # --- training step ----------------------------------------------------------------------
    batch_pos: int = 32
    batch_neg: int = 32
    batch_neg_cand: int = 1024  # hard negatives are the top-scored batch_neg of these
    # scoring those candidates: "float32", or "bfloat16" (AMX: the step ~3x faster; rlattn.precision)
    mining_precision: str = "float32"
    lr_mult_fc6: float = 10.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float = 10.0

    # --- online detection -------------------------------------------------------------------
    n_samples: int = 256  # N2
    trans: float = 0.6
    scale: float = 1.05
    trans_limit: float = 1.5  # the search widens ×trans_expand per failure up to this
    trans_expand: float = 1.1
    top_k: int = 5
    success_threshold: float = 0.0
    batch_test: int = 256

    # --- online update ----------------------------------------------------------------------
    trans_pos: float = 0.1
    scale_pos: float = 1.3
    trans_neg: float = 2.0
    scale_neg: float = 1.3
    n_pos_update: int = 50
    n_neg_update: int = 200
    overlap_pos_update: tuple[float, float] = (0.7, 1.0)
    overlap_neg_update: tuple[float, float] = (0.0, 0.3)
    n_frames_long: int = 100  # positives kept for long-term updates
    n_frames_short: int = 20  # negatives kept / positives used for short-term updates
    long_interval: int = 10  # T
    iters_update: int = 15  # H2
    lr_update: float = 3e-4

    extra: dict = field(default_factory=dict, repr=False)  # free-form notes carried into results

    def __post_init__(self) -> None:
        from rlattn.errors import RlattnError

        if self.backbone not in BACKBONES:
            raise RlattnError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        if self.mode not in MODES:
            raise RlattnError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.reg_reduction not in REDUCTIONS:
            raise RlattnError(f"unknown reg_reduction {self.reg_reduction!r}; choose one of {', '.join(REDUCTIONS)}")
        if self.reg_weighting not in WEIGHTINGS:
            raise RlattnError(f"unknown reg_weighting {self.reg_weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
        if self.attention_map not in MAP_KINDS:
            raise RlattnError(f"unknown attention map {self.attention_map!r}; choose one of {', '.join(MAP_KINDS)}")
        if self.mining_precision not in PRECISIONS:
            raise RlattnError(
                f"unknown mining precision {self.mining_precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        if self.reg_samples < 2:
            raise RlattnError(f"reg_samples must be >= 2 (one positive, one negative), got {self.reg_samples}")
        if not math.isfinite(self.lam) or self.lam < 0:  # NaN passes a plain "< 0" test
            raise RlattnError(f"lambda must be a finite number >= 0, got {self.lam}")
        for name in ("iters_init", "iters_update", "n_samples", "batch_pos", "batch_neg", "top_k"):
            if getattr(self, name) < 1:
                raise RlattnError(f"{name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def quick(cls, **changes) -> TrackerConfig:
        """Fewer samples and iterations: the demo's and the tests' setting on a 2-core CPU.

        Same algorithm, same λ; about 4x fewer first-frame samples, 15 instead of 50 first-frame
        iterations, 128 candidates, 5 update iterations. Numbers in the book never use it unless
        they say so.
        """
        base = dict(
            n_pos_init=200,
            n_neg_init=1000,
            iters_init=15,
            n_bbreg=300,
            batch_neg_cand=256,
            n_samples=128,
            n_pos_update=20,
            n_neg_update=60,
            iters_update=5,
        )
        base.update(changes)
        return cls(**base)

    def replace(self, **changes) -> TrackerConfig:
        """A copy with some fields changed (unknown names raise)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
