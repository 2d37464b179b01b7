"""fedsyft: federated learning with virtual workers, the classic PySyft way, on modern PyTorch.

>>> import torch, fedsyft as sy
>>> hook = sy.TorchHook(torch)
>>> bob = sy.VirtualWorker(hook, id="bob")
"""

from .data import FederatedDataLoader, FederatedDataset, federate  # noqa: E402  (registers Dataset.federate)
from .privacy import (  # noqa: E402  (registers .fix_precision/.share/.float_precision for the hook)
    CKKSAggregator,
    DPFedAvgAggregator,
    SecureAggregator,
    fix_precision,
    share,
)
from .workers import (
    GetNotPermittedError,
    ObjectNotFoundError,
    ObjectPointer,
    PointerTensor,
    RemoteValueError,
    TensorsNotCollocatedError,
    TorchHook,
    VirtualWorker,
    WorkerNotFoundError,
    copy,
    get,
    local_worker,
    location,
    move,
    send,
    traffic_report,
)

__version__ = "0.2.0"

__all__ = [
    "TorchHook", "VirtualWorker", "FederatedDataLoader", "FederatedDataset", "federate",
    "SecureAggregator", "DPFedAvgAggregator", "CKKSAggregator", "fix_precision", "share", "PointerTensor", "ObjectPointer", "local_worker",
    "send", "get", "move", "copy", "location", "traffic_report",
    "ObjectNotFoundError", "TensorsNotCollocatedError", "GetNotPermittedError",
    "WorkerNotFoundError", "RemoteValueError", "__version__",
]
