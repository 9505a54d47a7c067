"""What a site changes when it builds an image: another base image, other pins, pip's own
settings, build-time mounts.

A build host that cannot reach the pinned base image or the PyTorch index still builds the
stack, without editing the generated files: ``fairhep containers build STACK --base IMAGE
--build-arg KEY=VALUE`` renders a *derived* copy of the stack's files under
``build/containers/<stack>/`` with the changes applied, and builds from that. Every change is
said once, as one line of :meth:`BuildOverrides.describe`, in the image's labels
(``fairhep.build_overrides``), its environment (``FAIRHEP_BUILD_OVERRIDES``, which every
record made inside carries) and its ``pins.json`` (which ``containers selftest`` checks).

Build arguments (``--build-arg KEY=VALUE``):

- a pinned package (``torch``, ``onnxruntime``, ``numpy``, ... as in ``pins.json``): replaces
  that pin, e.g. ``torch=2.13.0`` where only that wheel can be had; the TensorRT package
  (``tensorrt-cu12=none``) may be left out, where its index cannot be reached: the image,
  its selftest and every record made inside then say "TensorRT: left out by override";
- ``EXTRA_INDEX_URLS``: replaces the stack's ``--extra-index-url`` lines (space-separated;
  ``none`` drops them);
- pip's own settings (:data:`PIP_SETTINGS`: ``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ...): set
  for the install steps only (not in the image's environment);
- ``FAIRHEP_GIT_SHA``: the commit the labels name (filled in from git by default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fairhep.containers.stacks import Stack
from fairhep.errors import ConfigError

PIP_SETTINGS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX",
                "PIP_TRUSTED_HOST", "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES")
EXTRA_INDEX_KEY = "EXTRA_INDEX_URLS"
GIT_SHA_KEY = "FAIRHEP_GIT_SHA"
# How the changes are joined in one label / environment value (and split again by readers).
SEPARATOR = "; "
NONE = "none"

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_*-]*$")
# Values end up in Dockerfile ARGs, shell words and Apptainer %labels lines: one line, no
# control characters, no separator; anything else is quoted where it is written.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _refuse_credentials(key: str, value: str) -> None:
    """A password or token in a URL would stay in the image for good (the definition file
    inside a SIF, ``docker history``, the copied requirements): refused, with the safe way."""
    for word in value.split():
        parts = urlsplit(word)
        if parts.username or parts.password:
            raise ConfigError(
                f"--build-arg {key}: {parts.hostname or word.split('@')[-1]} is given with "
                "credentials, which would be kept in the image; put them in a pip.conf or "
                ".netrc on the build host and mount it with --volume (e.g. --volume "
                "~/.config/pip/pip.conf:/etc/pip.conf:ro)")


@dataclass(frozen=True)
class BuildOverrides:
    """What a build changes from the committed stack (empty: build the committed files)."""

    base: str | None = None
    pins: tuple[tuple[str, str], ...] = ()  # package (pins.json name) -> version
    pip_settings: tuple[tuple[str, str], ...] = ()  # PIP_* -> value, install steps only
    extra_index_urls: tuple[str, ...] | None = None  # replaces the stack's own
    volumes: tuple[str, ...] = ()  # SRC:DST[:ro] mounted during the build only

    @property
    def empty(self) -> bool:
        return (self.base is None and not self.pins and not self.pip_settings
                and self.extra_index_urls is None and not self.volumes)

    def pin(self, package: str, default: str) -> str:
        return dict(self.pins).get(package, default)

    def describe(self, stack: Stack, pinned: Mapping[str, str]) -> list[str]:
        """One line per change: what was used instead of what the stack pins."""
        lines = []
        if self.base is not None:
            lines.append(f"base image {self.base} instead of the pinned {stack.base.ref}")
            lines.append(f"python {python_of_substituted_base(stack)}.x of that base instead "
                         f"of the pinned {stack.python}")
        lines += [left_out_by_override(name, pinned.get(name, "?")) if ver == NONE
                  else f"{name}=={ver} instead of the pinned {pinned.get(name, '?')}"
                  for name, ver in self.pins]
        if self.extra_index_urls is not None:
            new = " ".join(self.extra_index_urls) or NONE
            old = " ".join(stack.extra_index_urls) or NONE
            lines.append(f"extra index URLs {new} instead of {old}")
        lines += [f"pip setting {k}={v} during the build" for k, v in self.pip_settings]
        lines += [f"build-time mount {v}" for v in self.volumes]
        return lines


def left_out_by_override(package: str, pinned: str) -> str:
    """How a package left out of a build is said, in labels, selftest and records."""
    return f"{package}=={pinned}: left out by override (--build-arg {package}={NONE})"


def python_of_substituted_base(stack: Stack) -> str:
    """What is still checked of Python on another base: its minor version (wheels are built
    per minor version), not the patch release of the pinned base."""
    return ".".join(stack.python.split(".")[:2])


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--build-arg {text!r}: expected KEY=VALUE")
    if _UNSAFE.search(value) or SEPARATOR in value:
        raise ConfigError(f"--build-arg {key}: the value must be one line without control "
                          f"characters or {SEPARATOR!r}")
    return key.strip(), value.strip()


def _volume(text: str) -> str:
    src, sep, rest = text.partition(":")
    dst, _, mode = rest.partition(":")
    if not sep or not src or not dst.startswith("/") or mode not in ("", "ro", "rw"):
        raise ConfigError(f"--volume {text!r}: expected SRC:/DEST or SRC:/DEST:ro")
    if not Path(src).exists():
        raise ConfigError(f"--volume {text!r}: {src} does not exist on this machine")
    if _UNSAFE.search(text) or "," in text or SEPARATOR in text:
        raise ConfigError(f"--volume {text!r}: no commas or control characters")
    return f"{Path(src).resolve()}:{dst}" + (f":{mode}" if mode else "")


def parse_overrides(stack: Stack, pinned: Mapping[str, str], *, base: str | None = None,
                    build_args: Sequence[str] = (), volumes: Sequence[str] = ()
                    ) -> tuple[BuildOverrides, str | None]:
    """``--base``, ``--build-arg`` and ``--volume`` of ``containers build``, checked: the
    overrides and the git sha given with ``--build-arg FAIRHEP_GIT_SHA`` (None: from git).
    ``pinned`` is the stack's ``pins.json`` packages (name -> version)."""
    if base is not None and (not base.strip() or re.search(r"\s", base) or _UNSAFE.search(base)):
        raise ConfigError(f"--base {base!r}: expected an image reference such as "
                          "localhost/bookworm-py:base or registry/image:tag@sha256:...")
    pins: dict[str, str] = {}
    settings: dict[str, str] = {}
    extra: tuple[str, ...] | None = None
    sha = None
    for text in build_args:
        key, value = _key_value(text)
        if key in PIP_SETTINGS or key == EXTRA_INDEX_KEY:
            _refuse_credentials(key, value)
        if key == GIT_SHA_KEY:
            sha = value
        elif key in PIP_SETTINGS:
            settings[key] = value
        elif key == EXTRA_INDEX_KEY:
            urls = tuple(u for u in value.split() if u != NONE)
            bad = [u for u in urls if not urlsplit(u).scheme]
            if bad:
                raise ConfigError(f"--build-arg {key}: {bad[0]!r} is not a URL")
            extra = urls
        elif key in pinned:
            if value == NONE and key != stack.tensorrt_package:
                raise ConfigError(f"--build-arg {key}={NONE}: only the TensorRT package "
                                  f"({stack.tensorrt_package}) may be left out of a build")
            if not _VERSION.match(value):
                raise ConfigError(f"--build-arg {key}={value}: not a version (e.g. "
                                  f"{key}={pinned[key]})")
            if value != pinned[key]:
                pins[key] = value
        else:
            raise ConfigError(
                f"--build-arg {key}: not a build argument of stack {stack.id}; use a pinned "
                f"package ({', '.join(sorted(pinned)[:4])}, ... see its pins.json), "
                f"{EXTRA_INDEX_KEY}, {GIT_SHA_KEY} or one of {', '.join(PIP_SETTINGS)}")
    if base is not None and base.strip() == stack.base.ref:
        base = None  # the pinned base itself is no substitution
    overrides = BuildOverrides(
        base=base.strip() if base else None, pins=tuple(sorted(pins.items())),
        pip_settings=tuple(sorted(settings.items())), extra_index_urls=extra,
        volumes=tuple(_volume(v) for v in volumes),
    )
    return overrides, sha
