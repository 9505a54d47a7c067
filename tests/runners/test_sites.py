"""Site configurations: the shipped files, strict validation, search order, placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairhep.cli import main
from fairhep.errors import ConfigError
from fairhep.runners import check_site
from fairhep.sites import available_sites, load_site, repo_site_dir

SHIPPED = ("ci-slurm", "dgx", "hal", "local", "thetagpu")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_sites_load_with_the_papers_hardware() -> None:
    sites = {n: load_site(n) for n in SHIPPED}
    assert set(SHIPPED) <= set(available_sites())
    assert (sites["hal"].cpu_arch, sites["hal"].gpu_model) == ("ppc64le", "V100")
    assert (sites["dgx"].cpu_arch, sites["dgx"].gpu_model) == ("x86_64", "A100")
    assert (sites["thetagpu"].cpu_arch, sites["thetagpu"].gpu_model) == ("x86_64", "A100")
    assert sites["local"].scheduler == "local"
    assert sites["ci-slurm"].scheduler == "slurm"
    assert sites["ci-slurm"].slurm.partition == "debug"
    assert sites["hal"].container.runtime == "apptainer"
    assert sites["dgx"].container.runtime == "docker"
    assert sites["hal"].time_limit("train") == "24:00:00"
    assert sites["hal"].time_limit("export") == "02:00:00"  # falls back to default
    for name in ("hal", "dgx", "thetagpu"):
        assert sites[name].slurm.gpus_per_task == 1


def test_placeholders_are_reported_by_check() -> None:
    hal = load_site("hal")
    assert "slurm.account" in hal.placeholders()
    assert "paths.data" in hal.placeholders()
    warnings = check_site(hal)
    assert any("slurm.account is still CHANGE-ME" in w for w in warnings)
    assert load_site("ci-slurm").placeholders() == []


def test_sites_check_fails_on_what_submit_refuses_in_its_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """dgx has six CHANGE-ME values: `submit` refuses it, so `sites check` fails on it (exit
    1) with the same line, not "ok with 6 warning(s)"."""
    assert main(["submit", "--site", "dgx", "--campaign", "smoke", "--results",
                 str(tmp_path)]) == 1
    refusal = capsys.readouterr().err.strip().split("error: ", 1)[1]
    assert "slurm.partition" in refusal and "still CHANGE-ME" in refusal
    assert main(["sites", "check", "dgx"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"dgx: NOT READY: {refusal}"
    assert "ok with" not in out and "is still CHANGE-ME" not in out  # said once, above
    assert not list(tmp_path.iterdir())  # nothing was submitted or written


def test_sites_check_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sites", "check", "ci-slurm"]) == 0
    assert "ci-slurm: ok" in capsys.readouterr().out
    assert main(["sites", "check"]) == 1  # the cluster templates still hold CHANGE-ME
    out = capsys.readouterr().out
    for name in ("ci-slurm", "local"):
        assert f"{name}: ok" in out
    for name in ("dgx", "hal", "thetagpu"):
        assert f"{name}: NOT READY: " in out


def test_sites_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sites", "list"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert name in out
    assert main(["sites", "show", "thetagpu"]) == 0
    out = capsys.readouterr().out
    assert 'gpu_model = "A100"' in out and "[slurm]" in out and 'partition = "full-node"' in out


def test_unknown_site_is_one_line_listing_known_sites(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sites", "show", "nowhere"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "unknown site 'nowhere'" in err
    for name in SHIPPED:
        assert name in err


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ('[slurm]\npartiton = "gpu"\n', "slurm.partiton", "not a known setting"),
        ('gpus_per_node = "4"\n', "gpus_per_node", "must be an integer"),
        ('[container]\nbinds = "/data"\n', "container.binds", "must be a list"),
        ('[time_limits]\ntrain = 5\n', "time_limits.train", "must be a string"),
        ('colour = "blue"\n', "colour", "not a known setting"),
    ],
)
def test_unknown_keys_and_wrong_types_name_file_and_key(
    tmp_path: Path, body: str, key: str, words: str
) -> None:
    path = write(tmp_path / "bad.toml", body)
    with pytest.raises(ConfigError) as exc:
        load_site(path)
    msg = str(exc.value)
    assert str(path) in msg and f"'{key}'" in msg and words in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('[slurm]\npartition = "gpu$(touch /tmp/x)"\n', "slurm.partition"),
        ('[slurm]\naccount = "a\\nb"\n', "slurm.account"),
        ('[slurm]\nqos = "normal; rm -rf ~"\n', "slurm.qos"),
        ('scheduler = "pbs"\n', "scheduler must be one of slurm, local"),
        ('[container]\nruntime = "lxc"\n', "container.runtime must be one of"),
        ('[container]\nruntime = "podman"\n', "container.image is required"),
        ('[container]\nruntime = "apptainer"\n', "container.image is required"),
        ('[time_limits]\ntrain = "one day"\n', "time_limits.train"),
        ('[time_limits]\ntraining = "01:00:00"\n', "unknown task kind"),
        ('[environment.variables]\n"A B" = "1"\n', "not a valid variable name"),
        ('[container]\nruntime = "apptainer"\nimage = "x.sif"\nbinds = ["/a,/b"]\n',
         "without commas"),
    ],
)
def test_values_that_would_break_a_job_script_are_refused(
    tmp_path: Path, body: str, words: str
) -> None:
    path = write(tmp_path / "bad.toml", body)
    with pytest.raises(ConfigError) as exc:
        load_site(path)
    assert words in str(exc.value) and str(path) in str(exc.value)


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.toml", "scheduler = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as exc:
        load_site(path)
    assert str(path) in str(exc.value)


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write(tmp_path / "first" / "hal.toml", 'description = "from --site-dir"\n')
    env_dir = tmp_path / "env"
    write(env_dir / "hal.toml", 'description = "from the environment"\n')
    write(env_dir / "extra.toml", 'description = "only in the environment"\n')
    monkeypatch.setenv("FAIRHEP_SITE_CONFIGS", str(env_dir))
    monkeypatch.chdir(tmp_path)  # no ./site_configs here: the source tree's comes last
    assert load_site("hal", first.parent).description == "from --site-dir"
    assert load_site("hal").description == "from the environment"
    assert load_site("extra").description == "only in the environment"
    if repo_site_dir().is_dir():  # imported from the source tree (an editable install)
        assert load_site("dgx").source == repo_site_dir() / "dgx.toml"
    else:  # an installed wheel carries no site files: only the folders above are searched
        with pytest.raises(ConfigError, match="unknown site 'dgx'"):
            load_site("dgx")
    # ./site_configs comes before the source tree's
    write(tmp_path / "site_configs" / "dgx.toml", 'description = "from ./site_configs"\n')
    assert load_site("dgx").description == "from ./site_configs"
    # a path works wherever a name does; its name is the file stem
    site = load_site(str(first))
    assert site.name == "hal" and site.description == "from --site-dir"


def test_a_local_site_with_change_me_values_is_refused_like_a_cluster(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = write(tmp_path / "laptop.toml", 'scheduler = "local"\n[paths]\n'
                 'data = "CHANGE-ME/train"\ntest_data = "CHANGE-ME/test"\n')
    results = tmp_path / "results"
    assert main(["submit", "--site", str(site), "--campaign", "smoke", "--results",
                 str(results)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"fairhep submit: error: {site}: fill in paths.data, paths.test_data (still "
                   "CHANGE-ME) before submitting; --dry-run shows the scripts anyway")
    assert not results.exists()
    assert main(["sites", "check", str(site)]) == 1
