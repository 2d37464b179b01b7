"""Feature noise skew: client ``i``'s inputs get Gaussian noise of std ``sigma * i / (n - 1)``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ._validate import check_float, check_int, check_seed

__all__ = ["FeatureNoise", "GaussianNoise", "feature_noise"]


def _client_seed(seed: int | None, client: int) -> int:
    """A 63-bit torch seed for ``client``, derived from ``seed`` via ``numpy.random.SeedSequence``."""
    ss = np.random.SeedSequence(seed, spawn_key=(client,))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class GaussianNoise:
    """Transform ``x -> x + N(0, std**2)`` with a fixed noise seed (deterministic).

    Every call with the same input shape adds the *same* noise (the generator is re-seeded per
    call), so applying the transform to a client's whole data tensor is reproducible. Apply
    it to the shard's stacked data tensor, not sample by sample (each call with the same shape
    draws the same noise). ``std == 0``
    returns the input unchanged. Only floating-point tensors are accepted (normalise images
    first; noise on ``uint8`` pixels would be meaningless).

    Example
    -------
    >>> t = GaussianNoise(0.5, seed=7)
    >>> x = torch.zeros(3)
    >>> torch.equal(t(x), t(x)), bool((t(x) != 0).all())
    (True, True)
    """

    def __init__(self, std: float, *, seed: int = 0) -> None:
        self.std = check_float("std", std, lo=0.0, lo_inclusive=True)
        self.seed = check_int("seed", seed, lo=0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
            raise TypeError(
                f"GaussianNoise needs a floating-point torch.Tensor, got "
                f"{getattr(x, 'dtype', type(x).__name__)} (convert and normalise the data first)."
            )
        if self.std == 0.0:
            return x
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        noise = torch.randn(x.shape, generator=gen, dtype=x.dtype)
        return x + (self.std * noise).to(x.device)

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std:g}, seed={self.seed})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GaussianNoise)
            and other.std == self.std
            and other.seed == self.seed
        )

    def __hash__(self) -> int:
        return hash((self.std, self.seed))


def feature_noise(
    num_clients: int, *, sigma: float, seed: int | None = 0
) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """Per-client Gaussian noise transforms (NIID-Bench's feature noise skew).

    Client ``i`` gets noise with std ``sigma * i / (num_clients - 1)``: client 0 none, the
    last client ``sigma``. Each transform is a :class:`GaussianNoise` with its own seed derived
    from ``seed`` and the client id, so results are deterministic per seed. Use together with
    any label partitioner, e.g. ``federate(ds, workers, partition=IID(),
    client_transforms=feature_noise(len(workers), sigma=0.1))``.

    Parameters
    ----------
    num_clients:
        number of clients, ``>= 1`` (a single client gets no noise).
    sigma:
        the largest noise std (the last client's), ``>= 0``.
    seed:
        seed from which the per-client noise seeds are derived.

    Example
    -------
    >>> [t.std for t in feature_noise(3, sigma=0.2)]
    [0.0, 0.1, 0.2]
    """
    num_clients = check_int("num_clients", num_clients, lo=1)
    sigma = check_float("sigma", sigma, lo=0.0, lo_inclusive=True)
    seed = check_seed(seed)
    denom = max(num_clients - 1, 1)
    return [
        GaussianNoise(sigma * i / denom, seed=_client_seed(seed, i)) for i in range(num_clients)
    ]


class FeatureNoise:
    """Configured :func:`feature_noise`: ``FeatureNoise(sigma=0.1, seed=0)(num_clients)``.

    Example
    -------
    >>> FeatureNoise(sigma=0.1)
    FeatureNoise(sigma=0.1, seed=0)
    >>> len(FeatureNoise(sigma=0.1)(4))
    4
    """

    name = "feature_noise"

    def __init__(self, *, sigma: float, seed: int | None = 0) -> None:
        check_float("sigma", sigma, lo=0.0, lo_inclusive=True)
        check_seed(seed)
        self.sigma = sigma
        self.seed = seed

    def __call__(self, num_clients: int) -> list[Callable[[torch.Tensor], torch.Tensor]]:
        return feature_noise(num_clients, sigma=self.sigma, seed=self.seed)

    def __repr__(self) -> str:
        return f"FeatureNoise(sigma={self.sigma!r}, seed={self.seed!r})"
