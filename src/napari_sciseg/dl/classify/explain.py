"""What a classifier looked at: Grad-CAM (HiResCAM form) and occlusion maps.

:func:`grad_cam` multiplies the deepest feature map of a CNN element-wise by the
gradient of the class score and sums over channels (HiResCAM, Draelos & Carin
2020: unlike Grad-CAM's channel-averaged gradients, a region the score does not
depend on gets exactly zero). :func:`occlusion_map` works for any classifier
(the boosted ones included): the drop of the class probability when a patch is
replaced by the image's median. :func:`explain_image` picks the one that fits a
model and returns a map on the image's own pixel grid, for an overlay layer.

Examples
--------
>>> from napari_sciseg.dl.classify.cnn import build_cnn
>>> net = build_cnn({"in_channels": 1, "n_classes": 2, "depth": 2, "base_channels": 4})
>>> grad_cam(net, np.random.default_rng(0).random((1, 32, 32), np.float32), 1).shape
(32, 32)
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["grad_cam", "occlusion_map", "explain_image"]


def grad_cam(net, image: np.ndarray, class_index: int, *, layer=None) -> np.ndarray:
    """Class-activation map of one prepared (C, Y, X) image, scaled to 0-1.

    Parameters
    ----------
    net : torch.nn.Module
        An :class:`~napari_sciseg.dl.classify.cnn.ImageCNN` (or any module with
        ``feature_map(x)`` and ``head``), unless ``layer`` is given.
    image : (C, Y, X) ndarray
    class_index : int
    layer : torch.nn.Module, optional
        Take the map at this module's output instead (forward hook).

    Returns
    -------
    (Y, X) float32 ndarray
        Zero where the class score does not depend on the features.
    """
    net.eval()
    x = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None]
    store: dict = {}
    if layer is None:
        hook = None
        fmap = net.feature_map(x)
        fmap.retain_grad()
        score = net.head(fmap.mean((2, 3)))[0, class_index]
    else:
        hook = layer.register_forward_hook(lambda m, i, o: store.setdefault("a", o))
        score = net(x)[0, class_index]
        fmap = store["a"]
        hook.remove()
    grad = torch.autograd.grad(score, fmap)[0]
    cam = F.relu((grad * fmap).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam.numpy()
    return (cam / cam.max() if cam.max() > 0 else cam).astype(np.float32)


def occlusion_map(predict, image: np.ndarray, class_index: int, *, patch: int = 16,
                  stride: int | None = None) -> np.ndarray:
    """Drop of the class probability when each patch is hidden (clipped at 0).

    Parameters
    ----------
    predict : callable
        (C, Y, X) ndarray -> (K,) probabilities.
    image : (C, Y, X) ndarray
    class_index : int
    patch, stride : int
        Square patch and its step (default patch // 2).

    Returns
    -------
    (Y, X) float32 ndarray
        The mean drop over the patches covering each pixel.
    """
    stride = stride or max(patch // 2, 1)
    image = np.asarray(image, np.float32)
    base = float(predict(image)[class_index])
    fill = np.median(image, axis=(-2, -1), keepdims=True)
    total = np.zeros(image.shape[-2:])
    count = np.zeros(image.shape[-2:])
    h, w = image.shape[-2:]
    for y in range(0, max(h - patch, 0) + 1, stride):
        for x in range(0, max(w - patch, 0) + 1, stride):
            hidden = image.copy()
            hidden[:, y:y + patch, x:x + patch] = fill[..., 0, 0][:, None, None]
            total[y:y + patch, x:x + patch] += base - float(predict(hidden)[class_index])
            count[y:y + patch, x:x + patch] += 1
    return np.clip(total / np.maximum(count, 1), 0, None).astype(np.float32)


def explain_image(model, image, *, spacing=None, class_index: int | None = None,
                  method: str = "auto") -> tuple[np.ndarray, int]:
    """A map of what ``model`` looked at, on the grid of ``image`` (an overlay layer).

    Parameters
    ----------
    model : ImageClassifier
    image : (Y, X) or (C, Y, X) ndarray
    spacing : float, optional
        The image's pixel size (nm).
    class_index : int, optional
        The class to explain; default the predicted one.
    method : {"auto", "gradcam", "occlusion"}
        ``auto``: Grad-CAM for the networks, occlusion for boosted trees.

    Returns
    -------
    heat : (Y, X) float32 ndarray
    class_index : int
    """
    from .workflow import _raw_proba, prepare_all

    prepared = prepare_all([image], [spacing], model.config.target_spacing)[0]
    if class_index is None:
        class_index = int(_raw_proba(model, [prepared])[0].argmax())
    if method == "auto":
        method = "gradcam" if model.net is not None else "occlusion"
    if method == "gradcam":
        if model.net is None:
            raise ValueError("Grad-CAM needs a network (representation cnn or pretrained); "
                             "use method='occlusion' for boosted trees.")
        heat = grad_cam(model.net, prepared, class_index)
    elif method == "occlusion":
        patch = max(8, min(prepared.shape[-2:]) // 4)
        heat = occlusion_map(lambda im: _raw_proba(model, [im])[0], prepared, class_index,
                             patch=patch)
    else:
        raise ValueError(f"method must be auto, gradcam or occlusion; got {method!r}.")
    from skimage.transform import resize

    shape = np.asarray(image).shape[-2:]
    heat = resize(heat, shape, order=1, preserve_range=True, anti_aliasing=False)
    return heat.astype(np.float32), class_index
