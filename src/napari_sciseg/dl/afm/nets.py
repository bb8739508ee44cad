"""AFM crystal-class networks: the study's fusion variants on small CNN backbones.

Every variant maps a batch of tiles ``x`` (B, C, T, T) and metadata vectors
``meta`` (B, M) to class logits (B, K):

=============  ===============================================================
fusion         architecture
=============  ===============================================================
``single``     one backbone on the height channel
``early``      one backbone on the channels stacked as one input
``late``       one backbone + head per channel; the logits are averaged
``hybrid``     one backbone per channel; features concatenated, one head
``metadata``   metadata only: dense -> ReLU -> batch norm -> dense -> dense
``maddi``      bimodal (MADDi-style): image and metadata subnets, their
               features fused by a joint layer and concatenated again with
               each unimodal feature before the head
=============  ===============================================================

With ``use_metadata`` a linear map of the metadata vector gives class logits
that are *added* to the image logits (a late merge, a product of experts).
Training fits that term on its own after the image network
(:mod:`napari_sciseg.classify.afm.meta_model`): trained jointly, it fitted the
leftovers of training scans the network had already memorised and lowered the
score. The backbones are small (four 3x3
convolution blocks, global average pooling) so they train from scratch on a CPU
in tens of seconds; average pooling makes the features areal fractions of
textures, which is what a class defined by crystal counts needs. ``late`` and
``hybrid`` use half-width branches, one per channel, to cost about as much as
one full-width backbone.
"""

from __future__ import annotations

import torch
from torch import nn

from ...classify.afm.model import FUSIONS, TEXTURE_KINDS, Fusion

__all__ = ["Fusion", "AfmNet", "create_afm_net", "FUSIONS", "NETWORK_FUSIONS"]

#: the fusion variants that are networks (the others are texture classifiers)
NETWORK_FUSIONS = tuple(f for f in FUSIONS if f not in TEXTURE_KINDS)


class Backbone(nn.Module):
    """Four conv blocks (3x3 conv, batch norm, ReLU; the first three with stride 2) + global
    average pool. Strided convolutions instead of max pooling make it ~10x cheaper on a CPU."""

    def __init__(self, in_channels: int, width: int = 8):
        super().__init__()
        chans = [in_channels, width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [
                nn.Conv2d(
                    chans[i], chans[i + 1], 3, stride=2 if i < 3 else 1, padding=1, bias=False
                ),
                nn.BatchNorm2d(chans[i + 1]),
                nn.ReLU(inplace=True),
            ]
        self.body = nn.Sequential(*layers)
        self.out_features = chans[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


def _head(n_in: int, n_classes: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Dropout(dropout), nn.Linear(n_in, 64), nn.ReLU(inplace=True), nn.Linear(64, n_classes)
    )


class _MetaNet(nn.Module):
    """dense -> ReLU -> batch norm -> dense (the study's metadata subnet)."""

    def __init__(self, n_meta: int, width: int = 16, dropout: float = 0.5):
        super().__init__()
        # small and dropped out: a few dozen scans are easily memorised through metadata
        self.net = nn.Sequential(
            nn.Linear(n_meta, width),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(width),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
        )
        self.out_features = width

    def forward(self, m):
        return self.net(m)


class AfmNet(nn.Module):
    """One fusion variant; ``config`` holds what is needed to rebuild it."""

    def __init__(
        self,
        *,
        fusion: str,
        in_channels: int,
        n_meta: int,
        n_classes: int = 5,
        use_metadata: bool = False,
        width: int = 16,
        dropout: float = 0.2,
    ):
        super().__init__()
        fusion = Fusion(fusion)
        if fusion.value in TEXTURE_KINDS:
            raise ValueError(
                f"fusion {fusion.value!r} is not a network; "
                "use classify.afm.training.train_texture."
            )
        needs_meta = use_metadata or fusion in (Fusion.METADATA, Fusion.MADDI)
        if needs_meta and n_meta == 0:
            raise ValueError(
                f"fusion {fusion.value!r} with metadata needs metadata columns; "
                "the data set has none. Pass use_metadata=False."
            )
        self.config = {
            "fusion": fusion.value,
            "in_channels": in_channels,
            "n_meta": n_meta,
            "n_classes": n_classes,
            "use_metadata": bool(use_metadata),
            "width": width,
            "dropout": dropout,
        }
        self.fusion = fusion
        self.use_metadata = use_metadata and fusion not in (Fusion.METADATA, Fusion.MADDI)
        meta_width = 0
        if fusion in (Fusion.METADATA, Fusion.MADDI):
            self.meta = _MetaNet(n_meta)
            meta_width = self.meta.out_features
        branch_width = max(4, width // 2)
        if fusion in (Fusion.SINGLE, Fusion.EARLY, Fusion.MADDI):
            self.backbone = Backbone(in_channels, width)
            feat = self.backbone.out_features
            if fusion is Fusion.MADDI:
                self.joint = nn.Sequential(nn.Linear(feat + meta_width, 64), nn.ReLU(inplace=True))
                self.head = _head(64 + feat + meta_width, n_classes, dropout)
            else:
                self.head = _head(feat, n_classes, dropout)
        elif fusion is Fusion.HYBRID:
            self.branches = nn.ModuleList(Backbone(1, branch_width) for _ in range(in_channels))
            self.head = _head(sum(b.out_features for b in self.branches), n_classes, dropout)
        elif fusion is Fusion.LATE:
            self.branches = nn.ModuleList(Backbone(1, branch_width) for _ in range(in_channels))
            self.heads = nn.ModuleList(
                _head(b.out_features, n_classes, dropout) for b in self.branches
            )
        else:  # metadata only
            self.head = nn.Sequential(
                nn.Linear(meta_width, 32), nn.ReLU(inplace=True), nn.Linear(32, n_classes)
            )
        if self.use_metadata:
            # a linear model of the fields, fitted after the image network
            # (dl.afm.train); the Dropout is kept so older model files still load.
            # Built last and on a forked random stream: the image layers start from
            # and train with the same random numbers as the variant without
            # metadata, so the two differ only by this term.
            with torch.random.fork_rng(devices=[]):
                self.meta_head = nn.Sequential(nn.Dropout(0.5), nn.Linear(n_meta, n_classes))

    def forward(self, x: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        f = self.fusion
        if f is Fusion.METADATA:
            return self.head(self.meta(meta))
        if f is Fusion.MADDI:
            feats = self.backbone(x)
            if self.training:  # modality dropout on the metadata input
                meta = meta * _keep_mask(meta)
            m = self.meta(meta)
            joint = self.joint(torch.cat([feats, m], dim=1))
            return self.head(torch.cat([joint, feats, m], dim=1))
        if f is Fusion.LATE:
            logits = [
                h(b(x[:, i : i + 1])) for i, (b, h) in enumerate(zip(self.branches, self.heads))
            ]
            out = torch.stack(logits).mean(0)
        elif f is Fusion.HYBRID:
            feats = [b(x[:, i : i + 1]) for i, b in enumerate(self.branches)]
            out = self.head(torch.cat(feats, dim=1))
        else:
            out = self.head(self.backbone(x))
        if self.use_metadata and not self.training:
            # the term is fitted apart (dl.afm.train); training sees the images only
            out = out + self.meta_head(meta)
        return out


def _keep_mask(t: torch.Tensor) -> torch.Tensor:
    return (torch.rand(t.shape[0], 1, device=t.device) >= 0.5).to(t.dtype)


def create_afm_net(fusion: str, **kwargs) -> AfmNet:
    """Build a variant by name; unknown names raise a ValueError listing the valid ones.

    Examples
    --------
    >>> net = create_afm_net("early", in_channels=4, n_meta=3, use_metadata=True)
    >>> net(torch.zeros(2, 4, 64, 64), torch.zeros(2, 3)).shape
    torch.Size([2, 5])
    """
    if fusion not in NETWORK_FUSIONS:
        raise ValueError(
            f"Unknown fusion {fusion!r}; expected one of {list(NETWORK_FUSIONS)} "
            f"(or the texture classifiers {list(TEXTURE_KINDS)})."
        )
    return AfmNet(fusion=fusion, **kwargs)
