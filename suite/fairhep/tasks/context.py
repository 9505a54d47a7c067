"""Where a campaign's tasks read and write on a site: the results layout and the context every
task runs in.

Layout of one campaign's results (``<results>/<site>/<campaign>/``)::

    records/<kind>/*.json   result records (train, evaluate, bench.*, campaign.task)
    data/{train,test}/      the synthetic dataset (data.source = "synthetic")
    runs/<train-task-id>/   trained runs (checkpoints, model.json, best.pth, ONNX export)
    logs/                   one log per task attempt
    jobs/                   rendered job scripts, frozen site/campaign files, submissions.json
    report/                 the aggregation output
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fairhep.campaign import Campaign, builtin_campaigns
from fairhep.errors import ConfigError, FairhepError
from fairhep.sites import Site, available_sites
from fairhep.tasks.tasklist import TaskList, expand

if TYPE_CHECKING:  # torch only where a task runs the engine
    from fairhep.model.fast import EngineSettings


class TaskError(FairhepError):
    """A task that cannot run yet or failed in a way the user can act on."""


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def records(self) -> Path:
        return self.root

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def run_dir(self, train_task_id: str) -> Path:
        return self.runs / train_task_id


def results_root(site: Site, override: Path | None = None) -> Path:
    if override is not None:
        return Path(override).absolute()
    return site.resolve_path(site.paths.results)


def layout_for(site: Site, campaign: Campaign, results: Path | None = None) -> Layout:
    return Layout(results_root(site, results) / site.name / campaign.name)


@dataclass
class TaskContext:
    site: Site
    campaign: Campaign
    tasks: TaskList
    layout: Layout
    # How the fast engine runs in this process's tasks (`fairhep run` / `fairhep task run`'s
    # --engine-* options and their FAIRHEP_ENGINE_* defaults); None: the device's defaults.
    engine: EngineSettings | None = None

    @classmethod
    def create(cls, site: Site, campaign: Campaign, results: Path | None = None,
               engine: EngineSettings | None = None) -> TaskContext:
        return cls(site, campaign, expand(campaign), layout_for(site, campaign, results),
                   engine)

    def data_dirs(self) -> tuple[Path, Path]:
        """(training/validation directory, test directory) for this site and campaign."""
        if self.campaign.data.source == "synthetic":
            return self.layout.data / "train", self.layout.data / "test"
        paths = self.site.paths
        if not paths.data:
            raise ConfigError(f"{self.site.source}: key 'paths.data' is empty, but campaign "
                              f"{self.campaign.name} reads its dataset from the site")
        train = self.site.resolve_path(paths.data)
        test = self.site.resolve_path(paths.test_data) if paths.test_data else train
        return train, test

    def command_args(self) -> list[str]:
        """``--site``, ``--campaign`` (and ``--results`` when not the site's) that name this
        context on a command line: by name where the name finds the same file from any
        directory, else by absolute path, so that a printed command works as printed."""
        return command_args(self.site, self.campaign, self.layout)


def _same_file(a: Path | None, b: Path | None) -> bool:
    return a is not None and b is not None and Path(a).resolve() == Path(b).resolve()


def command_args(site: Site, campaign: Campaign, layout: Layout) -> list[str]:
    site_word = (site.name if _same_file(available_sites().get(site.name), site.source)
                 else str(Path(site.source or site.name).resolve()))
    campaign_word = (campaign.name
                     if _same_file(builtin_campaigns().get(campaign.name), campaign.source)
                     else str(Path(campaign.source or campaign.name).resolve()))
    args = ["--site", site_word, "--campaign", campaign_word]
    if layout.root != layout_for(site, campaign).root:
        args += ["--results", str(layout.root.parent.parent)]
    return args


def require_data(ctx: TaskContext, *dirs: Path) -> None:
    """Refuse, in one line, a task whose dataset directory is not there (yet)."""
    for d in dirs:
        if not d.is_dir():
            hint = ("the data task has not finished: run it first"
                    if ctx.campaign.data.source == "synthetic"
                    else f"check paths in {ctx.site.source}")
            raise TaskError(f"{d}: dataset directory not found ({hint})")
