"""Privacy for federated learning: secret sharing and secure aggregation, DP-FedAvg, CKKS.

=============================  ==============================================================
``fix_precision``              floats as integers of the ring Z_(2^64) (``FixedPrecisionTensor``)
``share``                      additive secret sharing among workers (``AdditiveSharingTensor``),
                               Beaver-triple multiplication with a crypto provider
``SecureAggregator``           FedAvg where only the sum of the updates is ever revealed
``trusted_aggregate``          the classic "move the models to a trusted worker" pattern
``DPFedAvgAggregator``         DP-FedAvg (McMahan et al. 2018), epsilon from opacus's RDP accountant
``dp_local_train``             local DP-SGD on a client with opacus's ``PrivacyEngine``
``CKKSAggregator``             homomorphically encrypted aggregation with TenSEAL's CKKS
``DistributedDPSecureAggregator``  distributed DP: clients clip and add their share of the noise,
                               secure aggregation sums (``dp_secagg``)
``encrypted``                  encrypted exchange of the model and updates (PBKDF2 keys, AES-GCM):
                               ``from fedsyft.privacy.encrypted import EncryptedFederatedTrainer``
=============================  ==============================================================

Importing this package registers ``fix_precision``, ``share`` and ``float_precision`` as
tensor (and pointer) methods for :class:`~fedsyft.workers.TorchHook`. opacus and tenseal are
imported only when DP or CKKS is used; ``cryptography`` only by ``fedsyft.privacy.encrypted``.

Example
-------
>>> import torch, fedsyft as sy
>>> import fedsyft.privacy
>>> hook = sy.TorchHook(torch)
>>> bob, alice = sy.VirtualWorker(hook, id="bob_priv_doc"), sy.VirtualWorker(hook, id="alice_priv_doc")
>>> torch.tensor([0.5]).fix_precision().share(bob, alice).get().float_precision()
tensor([0.5000], dtype=torch.float64)
>>> hook.unhook()
"""

from __future__ import annotations

import torch

from ..workers import PointerTensor, register_extension
from .dp import DPFedAvgAggregator, PrivacyBudgetExhaustedError, clip_update, dp_local_train
from .dp_secagg import DistributedDPSecureAggregator
from .fixed_precision import (
    MAX_ENCODED,
    RING_BITS,
    FixedPrecisionTensor,
    decode,
    encode,
    fix_precision,
    float_precision,
)
from .he import CKKSAggregator, ckks_aggregate
from .secure_aggregation import SecureAggregator, secure_aggregate, trusted_aggregate
from .sharing import AdditiveSharingTensor, ShareHolderGoneError, random_ring, share, split


def _t_fix_precision(self, base: int = 10, precision_fractional: int = 3, **kwargs):
    return fix_precision(self, base=base, precision_fractional=precision_fractional, **kwargs)


def _t_share(self, *workers, crypto_provider=None):
    return share(self, *workers, crypto_provider=crypto_provider)


def _t_float_precision(self, base: int = 10, precision_fractional: int = 3):
    return float_precision(self, base=base, precision_fractional=precision_fractional)


for _cls in (torch.Tensor, PointerTensor):
    register_extension(_cls, "fix_precision", _t_fix_precision)
    register_extension(_cls, "share", _t_share)
    register_extension(_cls, "float_precision", _t_float_precision)

__all__ = [
    "RING_BITS", "MAX_ENCODED", "FixedPrecisionTensor", "fix_precision", "float_precision",
    "encode", "decode", "AdditiveSharingTensor", "share", "split", "random_ring",
    "ShareHolderGoneError", "SecureAggregator", "secure_aggregate", "trusted_aggregate",
    "DPFedAvgAggregator", "PrivacyBudgetExhaustedError", "clip_update", "dp_local_train",
    "CKKSAggregator", "ckks_aggregate", "DistributedDPSecureAggregator",
]
