"""The batched client engine: every selected client trained in one ``torch.func`` program.

The same math as :func:`fedsyft.fl.client.local_train` run client after client, with the
clients' parameters, buffers and optimizer states stacked along a leading dimension:
:mod:`.schedule` (batch order), :mod:`.stack` (stacked states), :mod:`.step` (the vmapped
forward/backward), :mod:`.optim` (per-client SGD and Adam), :mod:`.graph` (CUDA graphs),
:mod:`.engine` (the driver, :func:`train_clients_batched`).
"""

from .engine import BatchedEngine, DataPool, NotBatchableError, train_clients_batched
from .optim import StackedOptimizer
from .schedule import build_schedule, client_batches

__all__ = ["train_clients_batched", "BatchedEngine", "DataPool", "NotBatchableError",
           "StackedOptimizer", "build_schedule", "client_batches"]
