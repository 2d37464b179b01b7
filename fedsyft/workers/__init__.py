"""Virtual workers, pointers, remote execution, the hook and the error vocabulary.

Layers, bottom up (each module imports only those below it):
``errors``, ``traffic``, ``isolation`` < ``worker`` (the storage class, the registry) <
``pointer`` < ``module`` (sent models) < ``runtime`` (``VirtualWorker.execute``) <
``functional`` < ``hook``.
"""

from .errors import (
    GetNotPermittedError,
    ObjectNotFoundError,
    RemoteValueError,
    TensorsNotCollocatedError,
    WorkerError,
    WorkerNotFoundError,
)
from .functional import copy, get, location, move, send
from .hook import TorchHook, register_extension
from .module import (
    copy_module,
    discard_module,
    get_module,
    module_location,
    move_module,
    send_module,
)
from .pointer import ObjectPointer, PointerTensor, send_tensor
from .runtime import VirtualWorker
from .traffic import TrafficStats, human_bytes, nbytes_of, traffic_report
from .worker import (
    BaseWorker,
    LocalWorker,
    known_workers,
    local_worker,
    resolve_worker,
)

__all__ = [
    "BaseWorker", "VirtualWorker", "LocalWorker", "local_worker", "known_workers", "resolve_worker",
    "PointerTensor", "ObjectPointer", "send_tensor", "TorchHook", "register_extension",
    "send", "get", "move", "copy", "location",
    "send_module", "get_module", "discard_module", "move_module", "copy_module", "module_location",
    "TrafficStats", "traffic_report", "nbytes_of", "human_bytes",
    "WorkerError", "ObjectNotFoundError", "TensorsNotCollocatedError", "GetNotPermittedError",
    "WorkerNotFoundError", "RemoteValueError",
]
