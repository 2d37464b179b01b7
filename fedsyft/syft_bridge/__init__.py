"""FedAvg across real PySyft 0.9.5 datasites: private data, mock data, code requests, approval.

The virtual workers of :mod:`fedsyft.workers` *simulate* data that lives elsewhere. This module
runs the same federated averaging on real PySyft 0.9.5 *datasites*:

1. **Launch** one datasite per data owner (``bob``, ``alice``, ...), in this Python process
   (``loopback=False``) or each as its own HTTP server process on 127.0.0.1 (``loopback=True``,
   the same protocol a datasite on another machine speaks).
2. **Upload**: each data owner uploads its shard as a ``sy.Dataset`` with two assets,
   ``images`` and ``labels``. The private data is the real shard; the *mock* that data
   scientists see is generated noise and random labels of the same shape and dtype, never
   real samples.
3. **Request**: the data scientist (a registered, non-admin user) sees only the mock and asks
   each site to run one function, :func:`fedsyft_local_train`, which is fedsyft's
   :func:`~fedsyft.fl.local_train` on the site's private shard. The input policy is a
   ``sy.MixedInputPolicy``: the site's two assets, plus two dicts the scientist sends each
   round (the global weights and the training settings), so one approval serves every round.
4. **Review and approve**: each data owner reads the submitted source
   (:meth:`SyftFederation.review`) and approves it (:meth:`SyftFederation.approve`).
5. **Aggregate**: every round the scientist sends the global weights to each site, gets
   trained weights back (plain dicts of numpy arrays) and averages them with the same code as
   :class:`~fedsyft.fl.FederatedTrainer` (sample-weighted FedAvg over the float entries).
   With the same partition, seed and hyper-parameters the result matches the
   virtual-worker run.
6. **Land**: :meth:`SyftFederation.land` stops every datasite and deletes its state folder.

What syft 0.9.5 enforces: the scientist cannot read the private assets, and code runs on them
only after the owner approved it, only with the inputs the policy names. What it does *not*
enforce: execution-count output policies (``OutputPolicyExecuteCount``,
``SingleExecutionExactOutput``). ``UserCodeService.is_execution_allowed`` calls the policy's
``is_valid`` but ignores the answer, so an approved function runs as often as it is called.
Treat the limit as a note to the data owner, not a privacy control.

syft is imported lazily (only inside functions): ``import fedsyft`` stays fast and works
without syft. Install it with ``pip install syft==0.9.5 sniffio``.

Example
-------
>>> import torch
>>> from fedsyft.data import MNIST
>>> from fedsyft.fl import ClientConfig, FLConfig
>>> from fedsyft.models import get_model
>>> from fedsyft.partition import Dirichlet
>>> from fedsyft.syft_bridge import SyftFederation, shards_from
>>> train, test = MNIST("train").subset(range(4000)), MNIST("test")
>>> parts = Dirichlet(alpha=0.5, seed=0)(train.targets.numpy(), 2)
>>> torch.manual_seed(0); model = get_model("mcmahan_2nn")  # doctest: +SKIP
>>> with SyftFederation(["bob", "alice"]) as fed:  # doctest: +SKIP
...     fed.prepare(shards_from(train, parts))       # upload, register, request, approve
...     history = fed.fit(model, FLConfig(rounds=2, client=ClientConfig(lr=0.05)), test)
"""

from __future__ import annotations

from ._plumbing import _check, _env, _fds_to, _no_ipython_display, _quiet  # noqa: F401 (tests, notebooks)
from .errors import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ASSETS,  # noqa: F401
    INSTALL_HINT,
    SITE_FUNCTION,
    SYFT_VERSION,
    DatasiteDownError,
    RequestNotApprovedError,
    SyftBridgeError,
    import_syft,
)
from .federation import SyftFederation
from .handshake import Scientist, make_mock, shards_from
from .round import fedsyft_local_train
from .sites import Datasite, free_port

__all__ = [
    "SYFT_VERSION", "INSTALL_HINT", "ADMIN_EMAIL", "ADMIN_PASSWORD", "SITE_FUNCTION",
    "SyftBridgeError", "RequestNotApprovedError", "DatasiteDownError",
    "import_syft", "free_port", "make_mock", "shards_from", "fedsyft_local_train",
    "Datasite", "Scientist", "SyftFederation",
]
