"""Encrypted exchange: the model and the updates travel encrypted between server and worker.

What it protects: the *wire*. An eavesdropper between the server and a worker (or a
man in the middle) sees only AES-GCM ciphertext; a message changed on the way, replayed
from an earlier round, or sealed with a key from a different password is refused with a
clear error, and the round never uses it. What it does **not** protect: the server itself
decrypts every client's update and sees it in the clear. Hiding individual updates from the
server is what secure aggregation (:class:`~fedsyft.privacy.SecureAggregator`) is for; the
two combine (encrypted download, secret-shared upload).

Keys. Each client ``k`` has its own 256-bit key, derived with PBKDF2-HMAC-SHA256 from a
shared secret (a password known to the server and to the clients, agreed out of band) and a
random per-client 16-byte salt that the server sends to the client in the clear (a salt is
not secret; it makes every client's key different and defeats precomputed tables).
:data:`DEFAULT_ITERATIONS` is 600,000, OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256;
lower counts are accepted for tests and demonstrations only.

Messages. ``header || AES-GCM(key, nonce, payload, associated_data=header)``. The header is
public but authenticated: a magic tag, the key's id (8 bytes of HMAC(key, ...), so a
wrong-password key is told apart from tampering), a random 96-bit nonce, the round, and the
sender, receiver and kind (``"model"`` down, ``"update"`` up). The payload is
``torch.save`` of a dict of tensors and numbers, read back with
``torch.load(weights_only=True)``: no pickle of untrusted bytes is ever executed.

Traffic. The ciphertext travels as a ``uint8`` tensor, so the workers' traffic counters
count ciphertext bytes. The model's *architecture* (code, no weights) travels as a
``meta``-device skeleton, which carries no tensor bytes.

This module plugs into :class:`~fedsyft.fl.FederatedTrainer` from outside:
:class:`EncryptedFederatedTrainer` replaces only the per-client exchange
(``client_update``); sampling, aggregation (FedAvg, DP-FedAvg, secure aggregation), evaluation,
history and checkpoints are the trainer's own.

Sources: "Preserving Data Privacy in Deep Learning" series; the PyTorch federated-learning
and privacy article that derives its keys with PBKDF2 from the ``cryptography`` package;
NIST SP 800-38D (GCM); OWASP Password Storage Cheat Sheet (PBKDF2 iteration counts).

Example
-------
>>> from fedsyft.workers import VirtualWorker
>>> bob = VirtualWorker(id="bob_enc_doc")
>>> ex = EncryptedExchange("correct horse battery staple", iterations=1_000)
>>> ex.enroll([bob])
>>> msg = ex.server_endpoint(bob).seal({"w": torch.ones(2)}, kind="model", round=1)
>>> msg.dtype, bool((msg[-16:] != 0).any())
(torch.uint8, True)
>>> ex.worker_endpoint(bob).open(msg, kind="model", round=1)["w"]
tensor([1., 1.])
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from torch import nn

from ..fl.aggregate import state_delta
from ..fl.loop import FederatedTrainer, _is_finite, client_seed
from ..workers import BaseWorker, send_tensor

DEFAULT_ITERATIONS = 600_000
"""PBKDF2-HMAC-SHA256 iterations (OWASP Password Storage Cheat Sheet, 2023)."""
MIN_ITERATIONS = 1_000
SALT_BYTES = 16
NONCE_BYTES = 12  # 96-bit nonces, as NIST SP 800-38D recommends for GCM
KEY_ID_BYTES = 8
MAGIC = b"FSX1"
SERVER = "server"
KINDS = ("model", "update")


# -- errors ---------------------------------------------------------------------------------
class EncryptedExchangeError(Exception):
    """Base class: a message of the encrypted exchange was refused."""


class TamperedMessageError(EncryptedExchangeError):
    """The message failed authentication (changed in transit, corrupted or misrouted)."""


class ReplayedMessageError(EncryptedExchangeError):
    """An authentic message arrived a second time, or from an earlier round."""


class WrongKeyError(EncryptedExchangeError):
    """The two sides derived different keys: their passwords (or salts) differ."""


# -- keys and serialization -----------------------------------------------------------------
def derive_key(password: str | bytes, salt: bytes, *, iterations: int = DEFAULT_ITERATIONS) -> bytes:
    """A 256-bit AES key from ``password`` and ``salt`` with PBKDF2-HMAC-SHA256.

    Example
    -------
    >>> k = derive_key("secret", b"0123456789abcdef", iterations=1_000)
    >>> len(k), k == derive_key("secret", b"0123456789abcdef", iterations=1_000)
    (32, True)
    """
    if isinstance(password, str):
        password = password.encode()
    if not isinstance(password, bytes) or not password:
        raise ValueError("password must be a non-empty str or bytes (the secret shared by the server "
                         "and the clients).")
    if not isinstance(salt, bytes) or len(salt) < 8:
        raise ValueError(f"salt must be at least 8 random bytes (use os.urandom({SALT_BYTES})).")
    if not isinstance(iterations, int) or iterations < MIN_ITERATIONS:
        raise ValueError(f"iterations must be an integer >= {MIN_ITERATIONS} (use {DEFAULT_ITERATIONS:,} "
                         f"outside tests), got {iterations!r}.")
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(password)


def key_id(key: bytes) -> bytes:
    """A public 8-byte fingerprint of ``key`` (HMAC-SHA256 of a fixed label): tells a
    wrong-password key apart from a tampered message without revealing the key."""
    return hmac.new(key, b"fedsyft encrypted exchange key id", hashlib.sha256).digest()[:KEY_ID_BYTES]


def serialize(obj: Any) -> bytes:
    """Bytes of a dict of tensors and plain numbers (``torch.save``'s zip format).

    Example
    -------
    >>> deserialize(serialize({"w": torch.arange(3)}))["w"]
    tensor([0, 1, 2])
    """
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def deserialize(data: bytes, *, map_location: torch.device | str | None = None) -> Any:
    """The inverse of :func:`serialize`; ``weights_only=True`` so no code is ever unpickled."""
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)


def _to_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def _to_bytes(message: torch.Tensor | bytes | bytearray) -> bytes:
    if isinstance(message, (bytes, bytearray)):
        return bytes(message)
    if isinstance(message, torch.Tensor) and message.dtype == torch.uint8 and message.dim() == 1:
        return message.detach().cpu().numpy().tobytes()
    raise TypeError(f"An encrypted message is a 1-D uint8 tensor or bytes, got {type(message).__name__}.")


def _pack_header(kid: bytes, nonce: bytes, rnd: int, sender: str, receiver: str, kind: str) -> bytes:
    names = b"".join(struct.pack(">B", len(s.encode())) + s.encode() for s in (sender, receiver, kind))
    return MAGIC + kid + nonce + struct.pack(">Q", rnd) + names


def _unpack_header(data: bytes) -> tuple[dict[str, Any], int]:
    """``(fields, header_length)``; raises ``ValueError`` on a malformed header."""
    if data[:4] != MAGIC:
        raise ValueError("bad magic")
    pos = 4
    kid = data[pos:pos + KEY_ID_BYTES]
    pos += KEY_ID_BYTES
    nonce = data[pos:pos + NONCE_BYTES]
    pos += NONCE_BYTES
    (rnd,) = struct.unpack(">Q", data[pos:pos + 8])
    pos += 8
    names = []
    for _ in range(3):
        n = data[pos]
        names.append(data[pos + 1:pos + 1 + n].decode())
        pos += 1 + n
    if pos + 16 > len(data):
        raise ValueError("truncated")
    return {"key_id": kid, "nonce": nonce, "round": rnd, "sender": names[0], "receiver": names[1],
            "kind": names[2]}, pos


# -- one side of a pairwise channel ---------------------------------------------------------
class Endpoint:
    """One party's end of an encrypted channel with one peer (server <-> one client).

    ``seal`` encrypts for the peer; ``open`` authenticates and decrypts what the peer sent,
    refusing tampered, replayed and wrong-key messages. Every accepted nonce is remembered,
    so the same message is never accepted twice.

    Parameters
    ----------
    me, peer: the two parties' names (``"server"`` and the worker's id).
    key: the 32-byte key (see :func:`derive_key`).
    """

    def __init__(self, me: str, peer: str, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"key must be 32 bytes (AES-256), got {len(key)}; derive it with derive_key().")
        self.me, self.peer = me, peer
        self._aead = AESGCM(key)
        self.key_id = key_id(key)
        self._seen: set[bytes] = set()
        self.messages_sealed = 0
        self.messages_opened = 0

    def __repr__(self) -> str:
        return f"Endpoint({self.me!r} <-> {self.peer!r}, key id {self.key_id.hex()})"

    def seal(self, obj: Any, *, kind: str, round: int) -> torch.Tensor:
        """Encrypt ``obj`` (a dict of tensors and numbers) for the peer: a ``uint8`` tensor."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
        nonce = os.urandom(NONCE_BYTES)
        header = _pack_header(self.key_id, nonce, int(round), self.me, self.peer, kind)
        self.messages_sealed += 1
        return _to_tensor(header + self._aead.encrypt(nonce, serialize(obj), header))

    def open(self, message: torch.Tensor | bytes, *, kind: str, round: int,
             map_location: torch.device | str | None = None) -> Any:
        """Authenticate and decrypt a message from the peer, expected for ``round`` and ``kind``.

        Raises
        ------
        WrongKeyError: the message was sealed with a different key (another password).
        TamperedMessageError: authentication failed, or the message is not addressed from the
            peer to this party with this kind.
        ReplayedMessageError: an authentic message seen before, or one from an earlier round.
        """
        data = _to_bytes(message)
        what = f"{kind} message from '{self.peer}' to '{self.me}' in round {round}"
        try:
            head, n = _unpack_header(data)
        except (ValueError, IndexError, struct.error, UnicodeDecodeError):
            raise TamperedMessageError(f"The {what} is malformed (its header does not parse): it was "
                                       f"changed in transit or corrupted. It is rejected.") from None
        if head["key_id"] != self.key_id:
            raise WrongKeyError(
                f"The {what} was encrypted with a different key (key id {head['key_id'].hex()}, expected "
                f"{self.key_id.hex()}): the server's and worker '{self._client}''s passwords differ. "
                f"Enroll the worker again with the server's password.")
        try:
            payload = self._aead.decrypt(head["nonce"], data[n:], data[:n])
        except InvalidTag:
            raise TamperedMessageError(
                f"The {what} failed authentication (AES-GCM tag mismatch): it was modified in transit "
                f"or corrupted. It is rejected; the round does not use it.") from None
        if (head["sender"], head["receiver"], head["kind"]) != (self.peer, self.me, kind):
            raise TamperedMessageError(
                f"The {what} is addressed {head['sender']!r} -> {head['receiver']!r} as "
                f"{head['kind']!r}: a misrouted message. It is rejected.")
        if head["round"] != round:
            old = "an earlier" if head["round"] < round else "a later"
            raise ReplayedMessageError(
                f"The {what} is an authentic message of round {head['round']} ({old} round) sent again: "
                f"a replayed message. It is rejected; the round does not use it.")
        if head["nonce"] in self._seen:
            raise ReplayedMessageError(
                f"The {what} was already received once (same nonce): a replayed message. It is rejected; "
                f"the round does not use it.")
        self._seen.add(head["nonce"])
        self.messages_opened += 1
        return deserialize(payload, map_location=map_location)

    @property
    def _client(self) -> str:
        return self.peer if self.me == SERVER else self.me


# -- what runs at the worker ----------------------------------------------------------------
def _enroll_at_worker(salt: torch.Tensor, *, password: str | bytes, iterations: int, me: str) -> Endpoint:
    """Runs at the worker: derive the worker's key from the password and the salt it received."""
    return Endpoint(me, SERVER, derive_key(password, _to_bytes(salt), iterations=iterations))


def _endpoint_key_id(endpoint: Endpoint) -> bytes:
    return endpoint.key_id


def _skeleton(model: nn.Module) -> nn.Module:
    """The architecture without weights (``meta`` tensors: zero bytes on the wire)."""
    persistent = set(model.state_dict(keep_vars=True))
    extra = [n for n, _ in model.named_buffers() if n not in persistent]
    if extra:
        raise ValueError(f"The model has non-persistent buffers {extra}, which state_dict() does not carry; "
                         f"register them with persistent=True to use the encrypted exchange.")
    return copy.deepcopy(model).to("meta")


def _train_at_worker(endpoint: Endpoint, message: torch.Tensor, skeleton: nn.Module, data: torch.Tensor,
                     targets: torch.Tensor, config, train_fn: Callable[..., dict[str, Any]], *, rnd: int,
                     seed: int, prox_mu: float, keep_update: bool) -> dict[str, Any]:
    """Runs at the worker: decrypt the model, train it on the local data, seal the reply.

    With ``keep_update`` (secure aggregation and other remote aggregators) the update stays
    here, in the clear only at its owner, and the reply carries only statistics and counters.
    """
    payload = endpoint.open(message, kind="model", round=rnd, map_location=data.device)
    model = skeleton.to_empty(device=data.device)
    model.load_state_dict(payload["state"])
    kwargs: dict[str, Any] = {"seed": seed}
    if prox_mu:
        kwargs["prox_mu"] = prox_mu
    if "control" in payload:
        kwargs["control"] = payload["control"]
    stats = train_fn(model, data, targets, config, **kwargs)
    trained = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out: dict[str, Any] = {}
    reply: dict[str, Any] = {"stats": {k: v for k, v in stats.items() if k != "control_delta"}}
    if "control_delta" in stats:
        reply["control_delta"] = stats["control_delta"]
    if keep_update:
        out["update"] = state_delta(trained, payload["state"])
        reply["state"] = {k: v for k, v in trained.items() if not torch.is_floating_point(v)}
    else:
        reply["state"] = trained
    out["reply"] = endpoint.seal(reply, kind="update", round=rnd)
    return out


def _take(d: dict[str, Any], key: str) -> Any:
    return d.pop(key)


# -- the exchange ---------------------------------------------------------------------------
Tap = Callable[..., "torch.Tensor | None"]


class EncryptedExchange:
    """Pairwise encrypted channels between the server and each enrolled worker.

    Parameters
    ----------
    password: the secret shared by the server and the clients (agreed out of band).
    iterations: PBKDF2 iterations (default :data:`DEFAULT_ITERATIONS` = 600,000; tests may
        use as few as 1,000). Derivation costs about this many SHA-256 HMACs per client, once.
    taps: callables that see every message on the wire, for teaching and testing:
        ``tap(message, direction=..., client=..., round=..., kind=...)`` where ``direction``
        is ``"down"`` (server to worker) or ``"up"``. A tap returning a tensor replaces the
        message (a man in the middle); returning ``None`` leaves it as it is (an eavesdropper).

    ``last_round_info`` holds the round's ``ciphertext_bytes_down``/``_up`` and
    ``crypto_seconds``.

    Example
    -------
    >>> from fedsyft.workers import VirtualWorker
    >>> ex = EncryptedExchange("pw", iterations=1_000)
    >>> ex.enroll([VirtualWorker(id="alice_enc_doc")])
    >>> ex.enrolled
    ['alice_enc_doc']
    """

    def __init__(self, password: str | bytes, *, iterations: int = DEFAULT_ITERATIONS,
                 taps: Iterable[Tap] = ()) -> None:
        derive_key(password, b"\0" * SALT_BYTES, iterations=MIN_ITERATIONS)  # validates the password
        if not isinstance(iterations, int) or iterations < MIN_ITERATIONS:
            raise ValueError(f"iterations must be an integer >= {MIN_ITERATIONS} (use {DEFAULT_ITERATIONS:,} "
                             f"outside tests), got {iterations!r}.")
        self._password = password
        self.iterations = iterations
        self.taps: list[Tap] = list(taps)
        self.salts: dict[str, bytes] = {}
        self._server: dict[str, Endpoint] = {}
        self._remote: dict[str, Any] = {}  # worker id -> pointer to the worker's Endpoint
        self.last_round_info: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"EncryptedExchange(iterations={self.iterations:,}, enrolled={self.enrolled})"

    @property
    def enrolled(self) -> list[str]:
        return sorted(self._server)

    def is_enrolled(self, worker: BaseWorker) -> bool:
        return worker.id in self._server

    def enroll(self, workers: Iterable[BaseWorker], *, password: str | bytes | None = None,
               verify: bool = True) -> None:
        """Give each worker a fresh salt; each derives its key *at the worker*.

        ``password`` is what the workers use (default: the server's); a different one
        simulates a client that was given the wrong password. With ``verify`` the worker's
        key id is compared with the server's and a mismatch raises :class:`WrongKeyError`
        now; without it, the first message raises it.
        """
        for w in workers:
            salt = os.urandom(SALT_BYTES)
            server_end = Endpoint(SERVER, w.id, derive_key(self._password, salt, iterations=self.iterations))
            salt_ptr = send_tensor(_to_tensor(salt), w)  # the salt is public: sent in the clear
            remote = w.execute(_enroll_at_worker, salt_ptr, password=self._password if password is None
                               else password, iterations=self.iterations, me=w.id)
            if verify and w.execute(_endpoint_key_id, remote).get() != server_end.key_id:
                raise WrongKeyError(
                    f"Worker '{w.id}' derived a different key from the server's (its password does not "
                    f"match). Enroll it with the server's password: exchange.enroll([{w.id}]).")
            self.salts[w.id] = salt
            self._server[w.id] = server_end
            self._remote[w.id] = remote

    def server_endpoint(self, worker: BaseWorker) -> Endpoint:
        """The server's end of the channel with ``worker``."""
        try:
            return self._server[worker.id]
        except KeyError:
            raise KeyError(f"Worker '{worker.id}' is not enrolled in this encrypted exchange; call "
                           f"exchange.enroll([{worker.id}]) first.") from None

    def worker_endpoint(self, worker: BaseWorker) -> Endpoint:
        """The worker's end (lives at the worker; for demonstrations and tests)."""
        self.server_endpoint(worker)
        return worker.get_obj(self._remote[worker.id].id_at_location)

    def _wire(self, message: torch.Tensor, **info: Any) -> torch.Tensor:
        for tap in self.taps:
            changed = tap(message, **info)
            if changed is not None:
                message = changed
        return message

    # -- one client, the encrypted version of FederatedTrainer.client_update ---------------
    def client_update(self, trainer: FederatedTrainer, shard, rnd: int, index: int, *,
                      remote: bool | None = None) -> dict[str, Any]:
        """Send the encrypted global model to the client, train there, get the sealed reply.

        Returns what :meth:`FederatedTrainer.client_update` returns (statistics, ``"client"``,
        ``"state"``, and ``"update"`` pointers for remote aggregators), so the round is the
        trainer's own.
        """
        import time

        cfg, worker = trainer.config, shard.worker
        server_end = self.server_endpoint(worker)
        t0 = time.perf_counter()
        payload: dict[str, Any] = {"state": {k: v.detach() for k, v in trainer.model.state_dict().items()}}
        if cfg.algorithm == "scaffold":
            c_i = trainer.c_clients.get(worker.id) or {k: torch.zeros_like(v) for k, v in trainer.c_global.items()}
            payload["control"] = (trainer.c_global, c_i)
        down = self._wire(server_end.seal(payload, kind="model", round=rnd), direction="down",
                          client=worker.id, round=rnd, kind="model")
        crypto = time.perf_counter() - t0
        remote = trainer.aggregator.remote_updates if remote is None else remote
        result = worker.execute(
            _train_at_worker, self._remote[worker.id], send_tensor(down, worker), _skeleton(trainer.model),
            shard.data, shard.targets, cfg.client, trainer.local_train_fn, rnd=rnd,
            seed=client_seed(cfg.seed, rnd, index), prox_mu=cfg.mu if cfg.algorithm == "fedprox" else 0.0,
            keep_update=remote)
        update_ptr = worker.execute(_take, result, "update") if remote else None
        up = self._wire(worker.execute(_take, result, "reply").get(), direction="up", client=worker.id,
                        round=rnd, kind="update")
        t1 = time.perf_counter()
        device = next(iter(payload["state"].values())).device if payload["state"] else None
        reply = server_end.open(up, kind="update", round=rnd, map_location=device)
        crypto += time.perf_counter() - t1
        info = self.last_round_info if self.last_round_info.get("round") == rnd else {
            "round": rnd, "ciphertext_bytes_down": 0, "ciphertext_bytes_up": 0, "crypto_seconds": 0.0}
        info["ciphertext_bytes_down"] += down.numel()
        info["ciphertext_bytes_up"] += up.numel()
        info["crypto_seconds"] += crypto
        self.last_round_info = info
        stats = dict(reply["stats"])
        stats["client"] = worker.id
        stats["state"] = reply["state"]
        if "control_delta" in reply:
            stats["control_delta"] = reply["control_delta"]
        if update_ptr is not None:
            stats["update"] = update_ptr
            stats["finite"] = worker.execute(_is_finite, update_ptr).get()
        return stats


class EncryptedFederatedTrainer(FederatedTrainer):
    """:class:`~fedsyft.fl.FederatedTrainer` whose model download and update upload are
    encrypted by an :class:`EncryptedExchange`. Everything else (sampling, FedAvg or any
    aggregator, evaluation, history, checkpoints) is the trainer's own, so encrypted FedAvg
    gives bit-for-bit the weights of plaintext FedAvg.

    Parameters
    ----------
    exchange: the :class:`EncryptedExchange`; workers not yet enrolled are enrolled with its
        password when the trainer is built.
    The other parameters are :class:`~fedsyft.fl.FederatedTrainer`'s.

    Example
    -------
    >>> # ex = EncryptedExchange(password, iterations=600_000)
    >>> # trainer = EncryptedFederatedTrainer(model, fds, test, FLConfig(rounds=5), exchange=ex)
    """

    def __init__(self, model: nn.Module, federated_dataset, test_set, config=None, *,
                 exchange: EncryptedExchange, **kwargs: Any) -> None:
        if not isinstance(exchange, EncryptedExchange):
            raise TypeError(f"exchange must be an EncryptedExchange, got {type(exchange).__name__}.")
        super().__init__(model, federated_dataset, test_set, config, **kwargs)
        self.exchange = exchange
        exchange.enroll([s.worker for s in self.shards if not exchange.is_enrolled(s.worker)])

    def client_update(self, shard, rnd: int, index: int, *, remote: bool | None = None) -> dict[str, Any]:
        return self.exchange.client_update(self, shard, rnd, index, remote=remote)

    def run_round(self):
        self.exchange.last_round_info = {}  # a round that failed (tampering, replay) leaves no trace
        rec = super().run_round()
        rec.extra.update({k: v for k, v in self.exchange.last_round_info.items() if k != "round"})
        return rec


def states_equal(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> bool:
    """Bit-for-bit equality of two state dicts (same keys, dtypes and values)."""
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


__all__ = [
    "DEFAULT_ITERATIONS", "EncryptedExchange", "EncryptedFederatedTrainer", "Endpoint",
    "EncryptedExchangeError", "TamperedMessageError", "ReplayedMessageError", "WrongKeyError",
    "derive_key", "key_id", "serialize", "deserialize", "states_equal",
]
