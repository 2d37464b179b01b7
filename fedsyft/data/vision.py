"""In-memory image datasets: uint8 images + labels, normalised on construction.

``TensorImageDataset`` is what fedsyft's loaders return. It is an ordinary map-style
torch ``Dataset`` (``ds[i] -> (image, label)``), so torch's ``DataLoader`` works on it,
and it keeps whole tensors (``.data``, ``.targets``) so that federating it and
indexing whole batches are single tensor operations rather than per-item Python calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .federated import InMemoryDataset


class TensorImageDataset(InMemoryDataset):
    """Images as one float tensor ``(N, C, H, W)`` plus integer ``targets``.

    Parameters
    ----------
    images:
        uint8 tensor ``(N, H, W)`` or ``(N, H, W, C)`` / ``(N, C, H, W)``.
    targets:
        int64 tensor ``(N,)``.
    mean, std:
        per-channel normalisation, applied once: ``(x / 255 - mean) / std``.
    classes:
        class names, index = label.
    normalize:
        if False, images are only scaled to [0, 1].

    Example
    -------
    >>> ds = TensorImageDataset(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.arange(4),
    ...                         mean=(0.5,), std=(0.5,), classes=list("abcd"))
    >>> ds[0][0].shape, len(ds)
    (torch.Size([1, 28, 28]), 4)
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        classes: Sequence[str],
        normalize: bool = True,
        name: str = "dataset",
    ) -> None:
        if images.dim() == 3:
            images = images.unsqueeze(1)
        elif images.dim() == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
            images = images.permute(0, 3, 1, 2)
        if len(images) != len(targets):
            raise ValueError(f"images ({len(images)}) and targets ({len(targets)}) differ in length.")
        x = images.to(torch.float32).div_(255.0)
        if normalize:
            m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
            s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
            x = x.sub_(m).div_(s)
        self.data = x.contiguous()
        self.targets = torch.as_tensor(targets, dtype=torch.int64)
        self.classes = list(classes)
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.name = name

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index):
        return self.data[index], self.targets[index]

    def subset(self, indices) -> TensorImageDataset:
        """A new dataset holding only ``indices`` (already-normalised data is reused)."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        out = TensorImageDataset.__new__(TensorImageDataset)
        out.data, out.targets = self.data[idx], self.targets[idx]
        out.classes, out.mean, out.std, out.name = self.classes, self.mean, self.std, self.name
        return out

    def __repr__(self) -> str:
        return (
            f"{self.name}(n={len(self)}, shape={tuple(self.data.shape[1:])}, "
            f"classes={len(self.classes)})"
        )
