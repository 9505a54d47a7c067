"""Container stacks: one TOML source of truth rendered into Apptainer definitions and
Dockerfiles, and the container runtimes that launch and build images.

``containers/stacks.toml`` describes each software stack (architecture, base image pinned by
digest, Python, CUDA/cuDNN, torch, ONNX, ONNX Runtime, TensorRT and fairhep's own pinned
dependencies):

- :mod:`.stacks` reads it into frozen data classes (``load_stacks``, ``find_root``);
- :mod:`.render` turns it, through ``containers/templates/``, into
  ``containers/<stack>/fairhep.def``, ``Dockerfile``, ``requirements.txt``, ``pins.json`` (and
  ``conda-packages.txt`` for conda stacks);
- :mod:`.check` re-renders in memory, parses what is committed (spython) and reports per stack;
- :mod:`.runtime` has one class per container runtime (Apptainer, Docker, Podman, none): the
  words that launch fairhep in an image, the engine's build command, image digests;
- :mod:`.build` builds a stack's image with a runtime's engine;
- :mod:`.selftest` runs inside a built image (light imports): pins and a tiny forward pass.
"""

from __future__ import annotations

from fairhep.containers.runtime import image_digest, run_env_for_image

__all__ = ["image_digest", "run_env_for_image"]
