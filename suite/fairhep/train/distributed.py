"""The processes of one distributed training: who they are (:class:`Launch`, from what ``srun``
or ``torchrun`` put in their environment) and how they talk (:class:`Comm`, torch.distributed
over ``env://``: NCCL on CUDA, gloo on the CPU).

Rank 0 decides (validation, early stopping, checkpoints, the record) and the others are told:
:meth:`Comm.on_root` runs a function on rank 0 and hands its value, or its one-line error, to
every rank. A rank that dies or hangs must not leave the others waiting forever: every
collective times out after ``timeout_s``, and :meth:`Comm.failed` then names the ranks that did
not report to the job's rendezvous store (rank 0's) within a grace period.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch.distributed.distributed_c10d import PrefixStore, Store
from torch.distributed.rendezvous import rendezvous

from fairhep.errors import ConfigError, FairhepError

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 1800.0  # rank 0 validates while the others wait: generous by default
GRACE_S = 5.0  # how long survivors of a failure wait for each other to report
_PORT_BASE, _PORT_SPAN = 20000, 20000


class RankFailed(FairhepError):
    """Another rank died or stopped answering."""


@dataclass(frozen=True)
class Launch:
    rank: int
    local_rank: int
    world_size: int
    nodes: int
    master_addr: str
    master_port: int
    launcher: str  # slurm | torchrun | single

    def to_record(self) -> dict[str, Any]:
        return {"world_size": self.world_size, "nodes": self.nodes, "launcher": self.launcher,
                "tasks_per_node": -(-self.world_size // self.nodes)}


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ConfigError(f"environment variable {name}={env[name]!r} is not an integer; "
                          "launch with srun or torchrun, which set it") from None


def _first_host(nodelist: str) -> str:
    """The first host of a Slurm node list (``node[01-04]``), as ``scontrol`` expands it."""
    if not any(c in nodelist for c in "[,"):
        return nodelist
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                             text=True, timeout=60, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"cannot expand the job's node list {nodelist!r} with `scontrol show "
                          f"hostnames` ({exc}); set MASTER_ADDR to the first node") from None
    if not out:
        raise ConfigError(f"`scontrol show hostnames {nodelist}` named no host; set MASTER_ADDR")
    return out[0]


def launch_from_environment(env: Mapping[str, str] | None = None) -> Launch:
    """This process's place: torchrun's RANK/WORLD_SIZE/LOCAL_RANK first, then srun's
    SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID (master: the step's first host, port from the job
    id unless MASTER_PORT says), else a world of one on this host."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        world = _int(env, "WORLD_SIZE")
        local_world = _int(env, "LOCAL_WORLD_SIZE") if "LOCAL_WORLD_SIZE" in env else world
        return Launch(_int(env, "RANK"), _int(env, "LOCAL_RANK") if "LOCAL_RANK" in env else 0,
                      world, max(1, world // max(local_world, 1)),
                      env.get("MASTER_ADDR", "127.0.0.1"), _int(env, "MASTER_PORT")
                      if "MASTER_PORT" in env else 29500, "torchrun")
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or "localhost"
        nodes = env.get("SLURM_STEP_NUM_NODES") or env.get("SLURM_NNODES") or "1"
        job = int(env.get("SLURM_JOB_ID", "0") or 0) + int(env.get("SLURM_STEP_ID", "0") or 0)
        port = (_int(env, "MASTER_PORT") if "MASTER_PORT" in env
                else _PORT_BASE + job % _PORT_SPAN)
        return Launch(_int(env, "SLURM_PROCID"), _int(env, "SLURM_LOCALID")
                      if "SLURM_LOCALID" in env else 0, _int(env, "SLURM_NTASKS"),
                      int(nodes), env.get("MASTER_ADDR") or _first_host(nodelist), port, "slurm")
    import socket

    with socket.socket() as s:  # a world of one: any free port
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    return Launch(0, 0, 1, 1, "127.0.0.1", port, "single")


def check_global_batch(batch_size: int, world_size: int) -> None:
    if batch_size % world_size:
        raise ConfigError(f"--batch-size {batch_size} (the global batch) is not a multiple of "
                          f"the world size {world_size}: choose a global batch that "
                          f"{world_size} ranks share equally, or another number of tasks")


def rank_device(device: torch.device, launch: Launch) -> torch.device:
    """One GPU per rank: the rank's local index among the GPUs this process sees."""
    if device.type != "cuda":
        return device
    return torch.device("cuda", launch.local_rank % max(torch.cuda.device_count(), 1))


class Comm:
    """The collectives a training needs, on the default process group."""

    def __init__(self, launch: Launch, device: torch.device, store: Store,
                 timeout_s: float) -> None:
        self.launch, self.device, self.timeout_s = launch, device, timeout_s
        self.rank, self.world_size = launch.rank, launch.world_size
        self.is_root = launch.rank == 0
        self.backend = "nccl" if device.type == "cuda" else "gloo"
        self._store = PrefixStore("fairhep", store)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled)."""
        box = [obj if self.is_root else None]
        dist.broadcast_object_list(box, src=0, device=self._obj_device())
        return box[0]

    def gather(self, obj: object) -> list[object]:
        out: list[object] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def sum(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self._obj_device())
        dist.all_reduce(t)
        return [float(v) for v in t.tolist()]

    def on_root(self, fn: Callable[[], T]) -> T:
        """``fn()`` on rank 0, its value on every rank; an error there is raised everywhere
        (one line, the same), so that no rank waits for a decision that never comes."""
        if self.is_root:
            try:
                value = fn()
            except FairhepError as exc:
                self.broadcast(("error", str(exc)))
                raise
            self.broadcast(("ok", value))
            return value
        status, theirs = self.broadcast(("", None))
        if status == "error":
            raise ConfigError(f"rank 0: {theirs}")
        decided: T = theirs
        return decided

    def agree(self, what: str, settings: Mapping[str, object]) -> None:
        """Refuse ranks that would train different things (settings, data)."""
        everyone: list[dict[str, object]] = [dict(s) for s in self.gather(dict(settings))
                                             if isinstance(s, dict)]
        for rank, theirs in enumerate(everyone):
            if theirs != everyone[0]:
                keys = sorted(k for k in set(theirs) | set(everyone[0])
                              if theirs.get(k) != everyone[0].get(k))
                raise ConfigError(f"rank {rank} disagrees with rank 0 on the {what} "
                                  f"({', '.join(keys)}): every rank must run the same command "
                                  "on the same data")

    def failed(self, wait_s: float = GRACE_S) -> list[int] | None:
        """After a failed collective: the ranks that did not report within ``wait_s`` (None
        when the store itself, on rank 0, is gone)."""
        try:
            # Counters, not Store.check (which torch < 2.2's PrefixStore lacks): adding 0
            # reads one without waiting for it.
            self._store.add(f"alive/{self.rank}", 1)
            deadline = time.monotonic() + wait_s
            while True:
                missing = [r for r in range(self.world_size)
                           if self._store.add(f"alive/{r}", 0) == 0]
                if not missing or time.monotonic() > deadline:
                    return missing
                time.sleep(0.2)
        except RuntimeError:  # torch's DistError (>= 2.2) is one
            return None

    def data_parallel(self, net: torch.nn.Module,
                      forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                      ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``forward`` (either engine's) under DistributedDataParallel: the gradients of
        ``net``'s weights are averaged over the ranks during the backward pass."""
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            _EngineModule(net, forward),
            device_ids=[self.device] if self.device.type == "cuda" else None)

    def record(self) -> dict[str, Any]:
        """What a training record says about the job: world size, nodes, backend, and for
        NCCL its version and the interconnect settings it was given."""
        out = {**self.launch.to_record(), "backend": self.backend}
        if self.backend == "nccl":
            out["nccl_version"] = ".".join(map(str, torch.cuda.nccl.version()))  # type: ignore[no-untyped-call]
            out["nccl_env"] = {k: v for k, v in sorted(os.environ.items())
                               if k.startswith("NCCL_")}
        return out

    def _obj_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")


class _EngineModule(torch.nn.Module):
    """The network as DDP needs it: a module whose parameters are ``net``'s and whose forward
    is the chosen engine's (the fast engine computes with the weights, not ``net.forward``)."""

    def __init__(self, net: torch.nn.Module,
                 forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.net = net
        self._forward = forward

    def forward(self, tracks: torch.Tensor, svs: torch.Tensor) -> torch.Tensor:
        return self._forward(tracks, svs)


@contextmanager
def process_group(launch: Launch, device: torch.device,
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[Comm]:
    """The default process group of this training, destroyed at the end; a failed collective
    (a peer died, or timed out) becomes one line naming the ranks that stopped answering."""
    timeout = dt.timedelta(seconds=timeout_s)
    os.environ.setdefault("MASTER_ADDR", launch.master_addr)
    os.environ.setdefault("MASTER_PORT", str(launch.master_port))
    try:
        # torchrun's agent may already host the store: rendezvous knows (and joins it).
        store, _, _ = next(rendezvous("env://", launch.rank, launch.world_size,
                                           timeout=timeout))
    except RuntimeError as exc:  # torch's DistError (>= 2.2) is one
        raise RankFailed(f"rank {launch.rank}: no rendezvous with rank 0 at "
                         f"{launch.master_addr}:{launch.master_port} within {timeout_s:g} s "
                         f"({str(exc).splitlines()[0]}); check that every task started and "
                         "MASTER_ADDR/MASTER_PORT") from None
    backend = "nccl" if device.type == "cuda" else "gloo"
    # device_id (torch >= 2.3) binds NCCL's communicator to this rank's GPU at once.
    accepts = "device_id" in inspect.signature(dist.init_process_group).parameters
    bind: dict[str, Any] = {"device_id": device} if backend == "nccl" and accepts else {}
    dist.init_process_group(backend, store=store, rank=launch.rank,
                            world_size=launch.world_size, timeout=timeout, **bind)
    comm = Comm(launch, device, store, timeout_s)
    ok = False
    try:
        yield comm
        ok = True
    except RuntimeError as exc:  # torch's DistError (>= 2.2) is one
        missing = comm.failed()
        if missing == []:
            raise  # every rank is alive: not a lost peer
        who = ("rank 0 (which holds the job's rendezvous store)" if missing is None
               else "rank" + ("s " if len(missing) > 1 else " ") + ", ".join(map(str, missing)))
        raise RankFailed(f"rank {launch.rank}: {who} died or stopped answering (waited up to "
                         f"{timeout_s:g} s: {str(exc).splitlines()[0][:160]}); see its log, "
                         "then rerun the same command to resume from the last checkpoint"
                         ) from None
    finally:
        if ok:  # after a failure, destroying would wait on the dead peer
            dist.destroy_process_group()
