"""fairhep's own fast IN engine as a backend (``fast-cpu``, ``fast-cuda``).

Not one of the paper's frameworks: the same published network and weights, evaluated with
padded tracks and SVs in closed form (:mod:`fairhep.model.fast`), so its scores agree with
PyTorch CPU fp32 within the fp32 tolerance while it does a fraction of the work. Records say
so (``config.engine``, ``config.paper_framework = false``); Table 8's framework rows remain
the factored dense network that ONNX Runtime and TensorRT run.

On CUDA the engine uses fixed bucket shapes compiled with ``torch.compile`` (mode
``max-autotune``, CUDA graphs); :meth:`FastBackend.prepare` compiles every shape once on
synthetic jets, so compilation is part of ``prepare_s`` and never of a timed batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fairhep.backends.base import TOLERANCE, PreparedModel
from fairhep.backends.torch_backend import TorchBackend
from fairhep.errors import BackendUnavailable

if TYPE_CHECKING:  # torch is imported only when a fast backend runs
    from fairhep.model.fast import EngineSettings

ENGINE_NOTE = "fairhep fast engine (this suite's exact closed form; not a paper framework)"


class FastBackend(TorchBackend):
    """The same weights as ``torch-*`` (what it can run, where), another evaluation of them."""

    name = "fast"

    def __init__(self, device: str = "cpu", precision: str = "fp32",
                 compile_mode: str | None = None, settings: EngineSettings | None = None
                 ) -> None:
        super().__init__(device)
        if precision != "fp32" and device != "cuda":
            raise ValueError(f"precision {precision} needs the cuda device")
        self.precision = precision
        # None: the settings' mode, else the engine's default for the device (max-autotune).
        self._compile = compile_mode if device == "cuda" else None
        self.settings = settings  # the commands' --engine-* (None: the device's defaults)
        self._engine: Any = None

    @property
    def tolerance(self) -> float:
        # tf32 / bf16 matmuls keep ~3 significant digits, like fp16: approximate on purpose.
        return TOLERANCE["fp32" if self.precision == "fp32" else "fp16"]

    @property
    def label(self) -> str:
        base = f"{self.name}-{self.device}"
        return base if self.precision == "fp32" else f"{base}-{self.precision}"

    def config(self) -> dict[str, object]:
        cfg = super().config()
        cfg.update(engine=ENGINE_NOTE, paper_framework=False,
                   approximate=self.precision != "fp32")
        if self.available() is None:  # known before prepare(): records say what ran
            cfg["engine_options"] = self._options().to_dict()
        return cfg

    def _options(self) -> Any:
        """The engine's options here (the commands' settings included): one source for the
        engine and its records."""
        from fairhep.model.fast import EngineOptions

        overrides: dict[str, Any] = {"precision": self.precision}
        if self._compile is not None:
            overrides["compile"] = self._compile
        return EngineOptions.for_device(self.device, settings=self.settings, **overrides)

    def prepare(self, model: PreparedModel) -> None:
        if reason := self.available():
            raise BackendUnavailable(reason)
        import torch

        from fairhep.model import load_run_model
        from fairhep.model.fast import FastEngine

        net = load_run_model(model.run_dir).to(self.device).eval()
        self._engine = FastEngine(net, self._options())
        if self.device == "cuda":
            self._engine.warm_up()
            torch.cuda.synchronize()

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        if self._engine is None:
            raise RuntimeError("prepare() the backend first")
        # Host arrays in, host scores out; predict_host returns when they are on the host.
        return np.asarray(self._engine.predict_host(tracks, svs).numpy())

    def close(self) -> None:
        self._engine = None
        super().close()
