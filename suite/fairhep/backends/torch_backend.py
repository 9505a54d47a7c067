"""PyTorch eager inference (the reference on the CPU, and the CUDA baseline of Table 8)."""

from __future__ import annotations

import numpy as np
import torch

from fairhep.backends import pinned
from fairhep.backends.base import Backend, PreparedModel
from fairhep.devices import cuda_unavailable_reason
from fairhep.errors import BackendUnavailable
from fairhep.model import ScoreModel, load_run_model


class TorchBackend(Backend):
    name = "torch"
    needs_onnx = False

    def __init__(self, device: str = "cpu") -> None:
        if device not in ("cpu", "cuda"):
            raise ValueError(f"torch backend device must be cpu or cuda, not {device!r}")
        self.device = device
        self._model: ScoreModel | None = None

    def available(self) -> str | None:
        return cuda_unavailable_reason() if self.device == "cuda" else None

    def prepare(self, model: PreparedModel) -> None:
        reason = self.available()
        if reason:
            raise BackendUnavailable(reason)
        # fp32 means fp32: TF32 matmuls would change results at the 1e-4 level on Ampere+.
        if self.device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self._model = ScoreModel(load_run_model(model.run_dir)).to(self.device).eval()

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("prepare() the backend first")
        with torch.inference_mode():
            # non_blocking: one DMA from pinned inputs (host_arrays); a pageable source is
            # copied synchronously all the same.
            t = torch.from_numpy(np.ascontiguousarray(tracks, np.float32)).to(
                self.device, non_blocking=True)
            s = torch.from_numpy(np.ascontiguousarray(svs, np.float32)).to(
                self.device, non_blocking=True)
            scores: torch.Tensor = self._model(t, s)
            if self.host_memory != pinned.PINNED:
                # .cpu() waits for the GPU, so the caller's timer includes all queued work.
                return scores.cpu().numpy()
            out = torch.empty(scores.shape, dtype=scores.dtype, pin_memory=True)
            out.copy_(scores, non_blocking=True)
            torch.cuda.current_stream().synchronize()  # the scores are on the host now
            return out.numpy()

    def close(self) -> None:
        self._model = None
        if self.device == "cuda" and torch.cuda.is_available():
            torch.cuda.empty_cache()
