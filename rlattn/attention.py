"""Attention maps (Eq. 1-2) and the reciprocative regulariser (Eq. 3-5).

The attention map of class ``c`` for a patch ``I`` is the positive part of ``∂f_c/∂I``, the
gradient of the class score with respect to the input pixels (centred patch, so one unit is one
grey level). It has the patch's shape ``(3, 107, 107)``; μ and σ in Eq. 3-4 are taken over all
of its elements.

The regulariser must reach fc4-fc6 through the maps, i.e. the maps must be part of the autograd
graph. Two ways give the same gradients (tests check that they agree to float64 precision):

* :func:`attention_maps` — plain double backprop with ``create_graph=True`` (the reference);
* :func:`attention_pair` — what training uses. For a fixed patch, ``A_c = J(I)ᵀ g_c`` is linear
  in ``g_c = ∂f_c/∂features`` (``J`` the frozen backbone's Jacobian), so the gradient of any loss
  on ``A_c`` with respect to ``g_c`` is the forward-mode product ``J(I) u``. That replaces the slow
  backward-of-backward through the backbone by one Jacobian-vector product, and the part that
  depends on the classifier's weights (``g_c``) stays a cheap double backward through fc4-fc6.
  A backbone that can linearise itself (``linearize``/``vjp_lin``/``jvp_lin``, as the
  EfficientNet-Lite trunk does) gives ``Jᵀ g`` for both classes in one batched pass and ``J u``
  from the same ReLU masks, without autograd's per-layer bookkeeping.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rlattn.config import MAP_KINDS  # TrackerConfig.attention_map's choices


def input_gradient(model: nn.Module, patches: torch.Tensor, cls: int, *, create_graph: bool = True) -> torch.Tensor:
    """``∂f_cls/∂patches`` (both signs) by backprop; with ``create_graph`` it stays differentiable
    in the model's weights, as the regulariser needs.

    ``model`` maps ``(N, 3, H, W)`` patches to ``(N, 2)`` scores; column 1 is the target.
    Samples are independent, so the gradient of the summed score gives every sample's own map.
    """
    x = patches.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = model(x)
        (grad,) = torch.autograd.grad(scores[:, cls].sum(), x, create_graph=create_graph)
    return grad


def first_layer_gradient(
    model: nn.Module, patches: torch.Tensor, cls: int, *, create_graph: bool = True
) -> torch.Tensor:
    """``∂f_cls/∂h`` at ``h = backbone.first_layer(patches)`` (both signs) by backprop: the gradient
    the authors' code hooked after conv1, here differentiable in the classifier's weights."""
    with torch.no_grad():
        h0 = model.backbone.first_layer(patches.detach())
    h = h0.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = model.classifier(model.backbone.rest(h).flatten(1))
        (grad,) = torch.autograd.grad(scores[:, cls].sum(), h, create_graph=create_graph)
    return grad


def attention_maps(
    model: nn.Module, patches: torch.Tensor, cls: int, *, create_graph: bool = True, kind: str = "input"
) -> torch.Tensor:
    """Class ``cls``'s attention maps by double backprop (the reference :func:`attention_pair` is
    tested against); differentiable in the model's weights unless ``create_graph=False`` (which is
    what the authors' release did).

    ``kind="input"`` (the paper, Eq. 2): the positive part of ``∂f_cls/∂patches``, shaped like
    the patches. ``kind="first_layer_energy"`` (what the authors' code computed): the squared
    gradient at the backbone's first layer's output summed over its channels, ``Σ_c (∂f/∂h_c)²``,
    one ``H'×W'`` map per patch at that layer's resolution (54×54 for EfficientNet-Lite0's stem).
    """
    if kind == "input":
        return input_gradient(model, patches, cls, create_graph=create_graph).clamp(min=0)
    if kind == "first_layer_energy":
        return first_layer_gradient(model, patches, cls, create_graph=create_graph).pow(2).sum(1)
    raise ValueError(f"unknown attention map kind {kind!r}; choose one of {', '.join(MAP_KINDS)}")


def finite_difference(model: nn.Module, patch: torch.Tensor, cls: int, index: tuple[int, int, int], h: float = 1e-3):
    """Central difference of ``f_cls`` at one input element ``index = (channel, row, col)`` of a
    single ``(3, H, W)`` patch: the number ``input_gradient`` must reproduce there."""
    with torch.no_grad():
        plus, minus = patch.clone(), patch.clone()
        plus[index] += h
        minus[index] -= h
        return float((model(plus[None])[0, cls] - model(minus[None])[0, cls]) / (2 * h))


ATTENTION_CHUNK = 8  # 2-core CPU, 64 patches: 0.84 s in chunks of 8, 0.98 s of 16, 1.56 s at once


class _BackboneVJP(torch.autograd.Function):
    """``G ↦ J(I)ᵀ G`` for a frozen backbone at fixed inputs ``I``; its adjoint is ``U ↦ J(I) U``.

    ``G`` stacks ``k`` cotangents per input as ``(k, N, D)``, so that the backward pass makes one
    Jacobian-vector product for all classes at once.
    """

    @staticmethod
    def forward(ctx, g, features, patches, backbone):  # type: ignore[override]
        ctx.backbone = backbone
        ctx.save_for_backward(patches)
        outs = [torch.autograd.grad(features, patches, gi, retain_graph=True)[0] for gi in g.unbind(0)]
        return torch.stack(outs)

    @staticmethod
    def backward(ctx, u):  # type: ignore[override]
        (patches,) = ctx.saved_tensors
        k, n = u.shape[:2]
        with torch.no_grad():
            _, ju = backbone_jvp(ctx.backbone, patches.detach(), u.reshape(k * n, *u.shape[2:]))
        return ju.reshape(k, n, -1), None, None, None


class _LinearizedVJP(torch.autograd.Function):
    """``G ↦ J(I)ᵀ G`` from a backbone's linearisation tape; backward ``U ↦ J(I) U``. ``at``:
    ``"input"`` (the pixels) or ``"first_layer"`` (the cotangent at the first layer's output)."""

    @staticmethod
    def forward(ctx, g, backbone, tape, at):  # type: ignore[override]
        ctx.backbone, ctx.tape, ctx.at = backbone, tape, at
        k, n = g.shape[:2]
        v = backbone.vjp_lin(tape, g.reshape(k * n, *g.shape[2:]), stop=at)
        return v.reshape(k, n, *v.shape[1:])

    @staticmethod
    def backward(ctx, u):  # type: ignore[override]
        k, n = u.shape[:2]
        ju = ctx.backbone.jvp_lin(ctx.tape, u.reshape(k * n, *u.shape[2:]).contiguous(), start=ctx.at)
        return ju.reshape(k, n, *ju.shape[1:]), None, None, None


def backbone_jvp(backbone: nn.Module, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(f(x), J_f(x) u)`` where ``u`` holds ``k`` tangents per input (``k·N`` rows).

    Uses the backbone's own ``jvp`` rule when it has one, else ``torch.func.jvp`` per tangent.
    """
    u = u.to(x.dtype)
    fast = getattr(backbone, "jvp", None)
    if fast is not None:
        return fast(x, u)
    n = x.shape[0]
    outs = [torch.func.jvp(backbone, (x,), (ui,)) for ui in u.split(n)]
    return outs[0][0], torch.cat([o[1] for o in outs])


def _class_gradients(classifier: nn.Module, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``(N, 2)`` and ``g = ∂f_c/∂feats`` stacked as ``(2, N, D)`` (target class first),
    differentiable in the classifier's weights.

    One batched backward pass for both classes through the same forward pass (the same dropout
    masks): the fc-layer products then have 2N rows instead of two passes of N, which on a 2-core
    CPU made this part of a regulariser step 1.5x faster.
    """
    leaf = feats.requires_grad_(True)
    scores = classifier(leaf)
    onehot = torch.eye(2, dtype=scores.dtype, device=scores.device)[[1, 0]]  # row k picks class 1 - k
    (g,) = torch.autograd.grad(
        scores, leaf, onehot[:, None, :].expand(2, *scores.shape), create_graph=True, is_grads_batched=True
    )
    return scores, g


def _to_maps(grads: torch.Tensor, kind: str) -> torch.Tensor:
    """``(2, N, C, H, W)`` gradients of both classes → their maps (see :func:`attention_maps`)."""
    return grads.clamp(min=0) if kind == "input" else grads.pow(2).sum(2)


def attention_pair(
    model: nn.Module, patches: torch.Tensor, kind: str = "input"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores ``(N, 2)`` and the maps ``A_p``, ``A_n`` of ``kind`` (see :func:`attention_maps`:
    ``"input"`` maps are shaped like ``patches``) in one pass.

    ``model`` must be a :class:`rlattn.model.DATNet` (a frozen ``backbone`` and a ``classifier``).
    The maps are differentiable with respect to the classifier's parameters (see module doc).
    """
    if kind not in MAP_KINDS:
        raise ValueError(f"unknown attention map kind {kind!r}; choose one of {', '.join(MAP_KINDS)}")
    at = "input" if kind == "input" else "first_layer"
    if hasattr(model.backbone, "linearize"):
        if len(patches) > ATTENTION_CHUNK:  # samples are independent; small chunks stay in cache
            parts = [attention_pair(model, p, kind) for p in patches.split(ATTENTION_CHUNK)]
            return tuple(torch.cat(t) for t in zip(*parts))  # type: ignore[return-value]
        x = patches.detach().contiguous(memory_format=torch.channels_last)
        out, tape = model.backbone.linearize(x)
        with torch.enable_grad():
            scores, g = _class_gradients(model.classifier, out.detach().flatten(1))
            maps = _to_maps(_LinearizedVJP.apply(g.view(2, *out.shape), model.backbone, tape, at), kind)
        return scores, maps[0], maps[1]
    x = patches.detach().contiguous(memory_format=torch.channels_last)
    trunk = model.backbone
    if at == "first_layer":  # the rest of the backbone, from the first layer's output on
        with torch.no_grad():
            x = model.backbone.first_layer(x)
        trunk = model.backbone.rest
    x = x.requires_grad_(True)
    with torch.enable_grad():
        feats = trunk(x).flatten(1)
        scores, g = _class_gradients(model.classifier, feats.detach())
        grads = _BackboneVJP.apply(g, feats, x, trunk)
        maps = _to_maps(grads, kind)
    return scores, maps[0], maps[1]


def map_stats(maps: torch.Tensor, eps: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample mean and (population) standard deviation over all elements of each map."""
    flat = maps.flatten(1)
    mu = flat.mean(dim=1)
    sigma = (flat.var(dim=1, unbiased=False) + eps * eps).sqrt() if eps else flat.std(dim=1, unbiased=False)
    return mu, sigma


def regulariser(
    maps_pos: torch.Tensor, maps_neg: torch.Tensor, labels: torch.Tensor, eps: float = 1e-8
) -> torch.Tensor:
    """Per-sample ``R`` of Eq. 3 (``labels == 1``) and Eq. 4 (``labels == 0``), ε-guarded.

    ``R(y=1) = σ(A_p)/μ(A_p) + μ(A_n)/σ(A_n)`` and ``R(y=0) = μ(A_p)/σ(A_p) + σ(A_n)/μ(A_n)``.
    """
    mu_p, sd_p = map_stats(maps_pos, eps)
    mu_n, sd_n = map_stats(maps_neg, eps)
    r_pos = sd_p / (mu_p + eps) + mu_n / (sd_n + eps)
    r_neg = mu_p / (sd_p + eps) + sd_n / (mu_n + eps)
    y = labels.to(r_pos.dtype)
    return y * r_pos + (1 - y) * r_neg


def cross_entropy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """MDNet's binary loss: the per-sample cross-entropy, summed over the batch."""
    return F.cross_entropy(scores, labels.long(), reduction="sum")


def reciprocative_loss(
    scores: torch.Tensor,
    maps_pos: torch.Tensor | None,
    maps_neg: torch.Tensor | None,
    labels: torch.Tensor,
    lam: float,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Eq. 5 summed over the batch: ``Σ_i L_CE,i + λ Σ_i R_i``. With ``lam == 0`` it is exactly
    :func:`cross_entropy` (the maps are then not needed and may be ``None``)."""
    loss = cross_entropy(scores, labels)
    if lam == 0:
        return loss
    if maps_pos is None or maps_neg is None:
        raise ValueError("lam > 0 needs both attention maps")
    return loss + lam * regulariser(maps_pos, maps_neg, labels, eps).sum()
