"""A busy controller's transient failures: queries are retried, a submission only when the
controller was never reached (fake sbatch/squeue/scontrol/scancel on PATH)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from fairhep.campaign import load_campaign
from fairhep.runners.slurm import SlurmRunner, command, jobs
from fairhep.runners.slurm.command import SlurmError, run_slurm
from fairhep.runners.slurm.plan import Chunk, max_array_size, plan_chunks
from fairhep.sites import load_site
from fairhep.tasks import TaskContext

TIMED_OUT = "squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation"
UNREACHED = ("sbatch: error: Batch job submission failed: Unable to contact slurm controller "
             "(connect failure)")


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(command, "BACKOFF_S", 0.0)
    return bin_dir


def fake(bin_dir: Path, name: str, fail_first: int, error: str, stdout: str = "",
         exit_code: int = 1) -> Path:
    """``name`` fails ``fail_first`` times with ``error``, then prints ``stdout`` (``@N@`` in it:
    the call's number); every call appends its arguments to ``<name>.calls``."""
    calls = bin_dir / f"{name}.calls"
    script = bin_dir / name
    script.write_text(f"""#!/bin/bash
echo "$*" >> {shlex.quote(str(calls))}
n=$(wc -l < {shlex.quote(str(calls))})
if [ "$n" -le {fail_first} ]; then echo {shlex.quote(error)} >&2; exit {exit_code}; fi
out={shlex.quote(stdout)}
printf '%s' "${{out//@N@/$n}}"
""")
    script.chmod(0o755)
    return calls


def n_calls(calls: Path) -> int:
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def test_a_query_is_retried_until_slurm_answers(fake_bin: Path) -> None:
    calls = fake(fake_bin, "squeue", 2, TIMED_OUT, "12_0|RUNNING\n")
    proc = run_slurm(["squeue"], "query")
    assert proc.stdout == "12_0|RUNNING\n" and n_calls(calls) == 3


def test_a_query_that_keeps_failing_is_one_line_after_the_last_attempt(fake_bin: Path) -> None:
    calls = fake(fake_bin, "squeue", 99, TIMED_OUT)
    with pytest.raises(SlurmError) as err:
        run_slurm(["squeue"], "query", hint=": is slurmctld up?")
    assert n_calls(calls) == command.ATTEMPTS
    assert str(err.value) == (f"squeue failed {command.ATTEMPTS} times "
                              "(squeue: error: slurm_load_jobs error: Socket timed out on "
                              "send/recv operation): is slurmctld up?")


def test_a_query_without_an_answer_in_time_is_retried(fake_bin: Path) -> None:
    calls = fake_bin / "squeue.calls"
    script = fake_bin / "squeue"
    script.write_text(f"#!/bin/bash\necho x >> {calls}\n"
                      f"[ $(wc -l < {calls}) -le 1 ] && exec sleep 30\necho '1_0|PENDING'\n")
    script.chmod(0o755)
    assert run_slurm(["squeue"], "query", timeout=1).stdout == "1_0|PENDING\n"
    assert n_calls(calls) == 2


def test_backoff_doubles(fake_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(command, "BACKOFF_S", 1.0)
    monkeypatch.setattr(command, "sleep", pauses.append)
    fake(fake_bin, "squeue", 99, TIMED_OUT)
    with pytest.raises(SlurmError):
        run_slurm(["squeue"], "query")
    assert pauses == [1.0, 2.0, 4.0]


def test_a_forgotten_job_is_an_answer_not_a_failure(fake_bin: Path) -> None:
    calls = fake(fake_bin, "scontrol", 99, "slurm_load_jobs error: Invalid job id specified")
    assert jobs._scontrol("12") == {}
    assert n_calls(calls) == 1


def context(tmp_path: Path) -> TaskContext:
    return TaskContext.create(load_site("ci-slurm"), load_campaign("smoke"), tmp_path / "res")


def submit_all(ctx: TaskContext) -> list[Chunk]:
    todo = {k: [t.index for t in v] for k, v in ctx.tasks.by_kind.items()}
    chunks = plan_chunks(ctx, todo, 1001)
    jobs.write_job_files(ctx, dict.fromkeys(todo, "#!/bin/bash\n"))
    return jobs.submit(ctx, chunks, resume=False)


def test_sbatch_is_retried_when_the_controller_was_not_reached(fake_bin: Path,
                                                              tmp_path: Path) -> None:
    calls = fake(fake_bin, "sbatch", 1, UNREACHED, "41\n")
    ctx = context(tmp_path)
    submitted = submit_all(ctx)
    assert [c.job_id for c in submitted] == ["41"] * len(submitted)
    assert n_calls(calls) == len(submitted) + 1


def test_sbatch_that_may_have_submitted_is_not_retried(fake_bin: Path, tmp_path: Path) -> None:
    # A timed-out request may have queued the job: a second sbatch would run it twice.
    calls = fake(fake_bin, "sbatch", 1, "sbatch: error: Socket timed out on send/recv operation")
    ctx = context(tmp_path)
    with pytest.raises(SlurmError, match=r"^sbatch failed \(sbatch: error: Socket timed out.*"
                                         r"submit --resume"):
        submit_all(ctx)
    assert n_calls(calls) == 1
    log = json.loads((ctx.layout.jobs / jobs.SUBMISSIONS).read_text())
    assert log[-1]["chunks"] == []


def test_status_survives_a_busy_controller(fake_bin: Path, tmp_path: Path) -> None:
    # The end-to-end test once failed here: one `squeue` exit 1 under load ended the status.
    fake(fake_bin, "sbatch", 0, "", "4@N@\n")
    ctx = context(tmp_path)
    train = next(c for c in submit_all(ctx) if c.kind == "train")
    squeue = fake(fake_bin, "squeue", 2, TIMED_OUT, f"{train.job_id}_0|RUNNING\n")
    fake(fake_bin, "scontrol", 0, "", "")
    states = SlurmRunner().job_states(ctx)
    assert n_calls(squeue) == 3
    assert states[("train", train.indices[0])].state == "RUNNING"


def test_scancel_is_retried(fake_bin: Path, tmp_path: Path) -> None:
    fake(fake_bin, "sbatch", 0, "", "4@N@\n")
    ctx = context(tmp_path)
    train = next(c for c in submit_all(ctx) if c.kind == "train")
    fake(fake_bin, "squeue", 0, "", f"{train.job_id}_0|PENDING\n")
    fake(fake_bin, "scontrol", 0, "", "")
    scancel = fake(fake_bin, "scancel", 1, "scancel: error: Socket timed out on send/recv")
    assert SlurmRunner().cancel(ctx) == [f"{train.job_id}_0"]
    assert n_calls(scancel) == 2


def test_max_array_size_is_asked_again_while_the_controller_is_busy(fake_bin: Path) -> None:
    # A fallback to Slurm's default 1001 would submit arrays the cluster refuses.
    calls = fake(fake_bin, "scontrol", 1, "slurm_load_ctl_conf error: Socket timed out",
                 "MaxArraySize            = 7\n")
    assert max_array_size() == 7 and n_calls(calls) == 2
