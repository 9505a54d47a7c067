"""The interaction network (IN) of Moreno et al. as made FAIR (paper §2.4.1, Table 3).

``config`` (the variant: sizes and input features), ``network`` (the factored IN that
training, export and the backends use), ``reference`` (the literal interaction-matrix form,
the truth in tests), ``run`` (a run directory's model), ``checkpoint`` (published
state_dicts) and ``metadata`` (the FAIR repository's per-checkpoint metadata JSON). The names
below are the package's public interface.
"""

from __future__ import annotations

from fairhep.model.checkpoint import (
    CheckpointError,
    check_state_dict,
    config_from_state_dict,
    load_state_dict_file,
    model_from_state_dict,
    state_dict_shapes,
)
from fairhep.model.config import (
    STATE_DICT_KEYS,
    FeatureListError,
    ModelConfig,
    ModelDict,
    parse_feature_list,
)
from fairhep.model.metadata import FairMetadata, check_metadata, read_fair_metadata
from fairhep.model.network import InteractionNetwork, ScoreModel
from fairhep.model.reference import interaction_matrices, reference_forward
from fairhep.model.run import (
    BEST_WEIGHTS,
    LAST_WEIGHTS,
    RUN_CONFIG,
    import_checkpoint,
    load_run_model,
    read_run_config,
    run_model_config,
    save_run_model,
)

__all__ = [
    "BEST_WEIGHTS",
    "LAST_WEIGHTS",
    "RUN_CONFIG",
    "STATE_DICT_KEYS",
    "CheckpointError",
    "FairMetadata",
    "FeatureListError",
    "InteractionNetwork",
    "ModelConfig",
    "ModelDict",
    "ScoreModel",
    "check_metadata",
    "check_state_dict",
    "config_from_state_dict",
    "import_checkpoint",
    "interaction_matrices",
    "load_run_model",
    "load_state_dict_file",
    "model_from_state_dict",
    "parse_feature_list",
    "read_fair_metadata",
    "read_run_config",
    "reference_forward",
    "run_model_config",
    "save_run_model",
    "state_dict_shapes",
]
