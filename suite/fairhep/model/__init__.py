"""The interaction network (IN) of Moreno et al. as made FAIR (paper §2.4.1, Table 3).

``config`` (the variant: sizes and input features), ``network`` (the factored IN that
training, export and the backends use), ``reference`` (the literal interaction-matrix form,
the truth in tests), ``run`` (a run directory's model) and ``checkpoint`` (published
state_dicts). The names below are the package's public interface.
"""

from __future__ import annotations

from fairhep.model.checkpoint import (
    CheckpointError,
    config_from_state_dict,
    load_state_dict_file,
    model_from_state_dict,
)
from fairhep.model.config import STATE_DICT_KEYS, ModelConfig, ModelDict
from fairhep.model.network import InteractionNetwork, ScoreModel
from fairhep.model.reference import interaction_matrices, reference_forward
from fairhep.model.run import (
    BEST_WEIGHTS,
    LAST_WEIGHTS,
    RUN_CONFIG,
    import_checkpoint,
    load_run_model,
    save_run_model,
)

__all__ = [
    "BEST_WEIGHTS",
    "LAST_WEIGHTS",
    "RUN_CONFIG",
    "STATE_DICT_KEYS",
    "CheckpointError",
    "InteractionNetwork",
    "ModelConfig",
    "ModelDict",
    "ScoreModel",
    "config_from_state_dict",
    "import_checkpoint",
    "interaction_matrices",
    "load_run_model",
    "load_state_dict_file",
    "model_from_state_dict",
    "reference_forward",
    "save_run_model",
]
