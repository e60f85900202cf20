"""`snakemake --profile profiles/slurm` against a real one-node SLURM cluster started on this machine.

A dry run only proves the profile parses. Here `tests/cluster/slurm_cluster.py` installs SLURM from
Debian's packages if needed and starts munged/slurmctld/slurmd with fake GPUs; then a toy workflow
and config/test.yaml run through the real profile, plus a small overlay profile that only adds what
a user would edit (the partition) and what a test needs (a 3 s first status check instead of 40 s,
job logs kept). We then check on the cluster's side (`scontrol show job`, kept visible by
MinJobAge) that every non-local job was an sbatch job of this run, that training jobs asked for a
GPU and others did not, that the rules' runtime/memory/threads reached sbatch, and that the
outputs equal those of a local run.

Skipped (with the reason) only where the cluster cannot run at all: not root, neither SLURM nor
apt-get, or a real SLURM installation on the machine. CI runs as root on Debian 12, so it runs there.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml
from reference_outputs import TIMING_COLUMNS

sys.path.insert(0, str(Path(__file__).parent / "cluster"))
import slurm_cluster  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]  # the plugin starts job steps with this Python too

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(slurm_cluster.unavailable_reason() is not None, reason=str(slurm_cluster.unavailable_reason())),
]

SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")


@pytest.fixture(scope="module")
def cluster():
    """One cluster for the module: start (and install) once, stop exactly its daemons at the end."""
    cluster = slurm_cluster.SlurmCluster(log=lambda msg: print(f"[slurm] {msg}", file=sys.stderr))
    try:
        cluster.start()
    except slurm_cluster.ClusterUnavailable as e:  # e.g. a foreign /etc/slurm/slurm.conf symlink
        pytest.skip(str(e))
    try:
        yield cluster
    finally:
        cluster.stop()


def write_overlay(folder: Path) -> Path:
    """A profile merged on top of profiles/slurm (later `--profile`s override top-level keys).

    `default-resources` is the profile's own block plus the partition, exactly what a user does by
    uncommenting `slurm_partition`; everything else in profiles/slurm stays as it is.
    """
    profile = yaml.safe_load((PROFILE / "config.v8+.yaml").read_text())
    default_resources = dict(profile.get("default-resources") or {})
    default_resources["slurm_partition"] = slurm_cluster.PARTITION
    overlay = {
        "default-resources": default_resources,
        # No account: the plugin tries to guess one with sacct, fails (no accounting database) and
        # submits without, as on a real cluster without accounts. (`slurm-no-account` exists in
        # plugin 2.8 but is not acted on.)
        "slurm-init-seconds-before-status-checks": 3,  # the default 40 s would dominate the runtime
        "slurm-keep-successful-logs": True,  # so a failing assertion can show them
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.v8+.yaml").write_text(yaml.safe_dump(overlay, sort_keys=False))
    return folder


def start_snakemake(workdir: Path, args: list[str], env: dict | None) -> subprocess.Popen:
    """Start snakemake in `workdir` (output to `workdir`/snakemake.out); see `finish_snakemake`."""
    out = open(workdir / "snakemake.out", "w")  # the child keeps its own copy
    proc = subprocess.Popen([*SNAKEMAKE, *args], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    out.close()
    return proc


def finish_snakemake(proc: subprocess.Popen, workdir: Path, timeout: float) -> str:
    """Wait for snakemake; on failure or timeout, fail with its output and the SLURM job logs."""
    status = None
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # snakemake cancels its SLURM jobs on SIGTERM
        proc.wait(timeout=30)
        status = f"timed out after {timeout:.0f} s"
    out = (workdir / "snakemake.out").read_text(errors="replace")
    if status or proc.returncode != 0:
        logs = "\n".join(
            f"--- {p.relative_to(workdir)}\n{p.read_text(errors='replace')[-2000:]}"
            for p in sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
        )
        pytest.fail(
            f"{' '.join(map(str, proc.args))} {status or f'failed ({proc.returncode})'} in {workdir}:\n"
            f"{out[-8000:]}\n{logs}"
        )
    return out


def run_snakemake(workdir: Path, args: list[str], env: dict | None, timeout: float) -> str:
    return finish_snakemake(start_snakemake(workdir, args, env), workdir, timeout)


def profile_args(workdir: Path) -> list[str]:
    """`--profile profiles/slurm --profile <overlay>`: the real profile, and the test's additions."""
    overlay = write_overlay(workdir.parent / f"{workdir.name}-overlay")
    return ["--profile", str(PROFILE), "--profile", str(overlay)]


def run_through_profile(cluster, workdir: Path, extra: list[str], timeout: float = 240) -> str:
    return run_snakemake(workdir, [*profile_args(workdir), *extra], cluster.env, timeout)


def scontrol_job(cluster, jobid: str) -> dict[str, str]:
    """`scontrol show job -o` as a dict (the job stays visible for MinJobAge after it ends)."""
    proc = subprocess.run(
        ["scontrol", "-o", "show", "job", jobid], env=cluster.env, capture_output=True, text=True, timeout=20
    )
    assert proc.returncode == 0, f"scontrol show job {jobid}: {proc.stderr}"
    # Values may contain spaces only in fields we do not read; split on "Key=" boundaries.
    return dict(re.findall(r"(\w[\w/:]*)=(\S*)", proc.stdout))


def submitted_jobs(snakemake_output: str) -> dict[str, str]:
    """Snakemake job id -> SLURM job id, from the plugin's "submitted with SLURM jobid" lines."""
    return dict(SUBMITTED.findall(snakemake_output))


def rule_jobs(snakemake_output: str) -> dict[str, tuple[str, bool]]:
    """Snakemake job id -> (rule, local?) from the "rule X:" / "localrule X:" blocks it prints."""
    jobs = {}
    for m in re.finditer(r"^(local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)", snakemake_output, re.M):
        jobs[m.group(3)] = (m.group(2), bool(m.group(1)))
    return jobs


def check_cluster_jobs(cluster, output: str, expects_gpu) -> dict[str, tuple[str, dict]]:
    """Every non-local job went through sbatch, ran on our partition, and asked for a GPU exactly
    when `expects_gpu(rule, comment)` says so (the comment is `rule_<rule>_wildcards_<values>`).

    Returns snakemake job id -> (rule, `scontrol show job` fields).
    """
    jobs = rule_jobs(output)
    submitted = submitted_jobs(output)
    remote = {j for j, (_, local) in jobs.items() if not local}
    assert remote, f"no cluster jobs ran at all:\n{output[-4000:]}"
    assert set(submitted) == remote, (
        f"jobs run on the cluster {sorted(submitted)} != non-local jobs {sorted(remote)}\n{output[-4000:]}"
    )
    run_uuid = None
    result = {}
    for job, slurm_id in submitted.items():
        rule = jobs[job][0]
        info = scontrol_job(cluster, slurm_id)
        assert info.get("JobState") == "COMPLETED", f"SLURM job {slurm_id} ({rule}): {info}"
        assert info.get("Partition") == slurm_cluster.PARTITION, info
        assert info.get("Comment", "").startswith(f"rule_{rule}"), info
        # All jobs of one snakemake run share its run id as job name (what squeue status uses).
        run_uuid = run_uuid or info["JobName"]
        assert info["JobName"] == run_uuid, info
        asked_gpu = "gpu" in info.get("TresPerJob", "") + info.get("TresPerNode", "")
        expected = expects_gpu(rule, info["Comment"])
        assert asked_gpu == expected, f"{info['Comment']}: GPU requested={asked_gpu}, expected {expected}: {info}"
        # The plugin's per-job log file is named after the SLURM job id.
        logs = list((Path(info["WorkDir"]) / ".snakemake" / "slurm_logs").rglob(f"{slurm_id}.log"))
        assert logs, f"no .snakemake/slurm_logs/**/{slurm_id}.log for {rule}"
        result[job] = (rule, info)
    return result


# A self-contained workflow shaped like ours: a CPU preparation job, training jobs whose rule asks
# for `gpu`, `mem_mb`, `runtime` and threads per wildcard (as rules/train.smk does per dataset), and
# a local aggregation. Proves the cluster path without depending on the training code.
TOY_SNAKEFILE = textwrap.dedent(
    """
    localrules: all, aggregate

    GPU = {"Random": 0, "Ours_LR": 1}

    rule all:
        input: "results/summary.txt"

    rule prepare:
        output: "resources/data.txt"
        shell: "echo data job=$SLURM_JOB_ID gpus=${{SLURM_GPUS_ON_NODE:-0}} > {output}"

    rule train:
        input: "resources/data.txt"
        output: "results/runs/{alg}.txt"
        threads: 2
        resources:
            gpu=lambda wildcards: GPU[wildcards.alg],
            mem_mb=lambda wildcards, attempt: 1500 * attempt,
            runtime=lambda wildcards, attempt: 7 * attempt,
        shell: "echo {wildcards.alg} job=$SLURM_JOB_ID gpus=${{SLURM_GPUS_ON_NODE:-0}} > {output}"

    rule aggregate:
        input: expand("results/runs/{alg}.txt", alg=GPU)
        output: "results/summary.txt"
        shell: "cat {input} > {output}; echo aggregate job=${{SLURM_JOB_ID:-local}} >> {output}"
    """
)


def test_profile_runs_toy_workflow_on_slurm(cluster, tmp_path):
    workdir = tmp_path / "toy"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(TOY_SNAKEFILE)
    output = run_through_profile(cluster, workdir, [])

    jobs = check_cluster_jobs(cluster, output, lambda rule, comment: comment.endswith("Ours_LR"))
    assert sorted(rule for rule, _ in jobs.values()) == ["prepare", "train", "train"]
    slurm_ids = {info["JobId"] for _, info in jobs.values()}
    for rule, info in jobs.values():
        # The rule's own resources reach sbatch; the profile's defaults fill in the rest.
        if rule == "train":
            assert (info["TimeLimit"], info["MinMemoryNode"], info["CPUs/Task"]) == ("00:07:00", "1500M", "2")
        else:
            assert (info["TimeLimit"], info["MinMemoryNode"]) == ("01:00:00", "4000M"), info
    # Inside the job SLURM handed out the (fake) GPU only where asked; the local rule ran outside.
    for name, gpus in (("runs/Ours_LR", 1), ("runs/Random", 0)):
        text = (workdir / "results" / f"{name}.txt").read_text().split()
        assert text[1].removeprefix("job=") in slurm_ids and text[2] == f"gpus={gpus}", text
    text = (workdir / "resources" / "data.txt").read_text().split()
    assert text[1].removeprefix("job=") in slurm_ids and text[2] == "gpus=0", text
    assert (workdir / "results" / "summary.txt").read_text().splitlines()[-1] == "aggregate job=local"


# ----------------------------------------------------------------------------- the real pipeline
# The workflow's own files; a test copies them so that runs do not touch the repository's results/.
WORKFLOW_FILES = ("Snakefile", "rules", "workflow", "config", "environment.yml")
# Per-run measurements that legitimately differ between two runs of the same job.
# scalars_sha256 is the digest of a chunk's parquet, whose wall_time column differs between runs
TIMING_KEYS = TIMING_COLUMNS | {"scalars_sha256"}


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def gpu_catalog(workdir: Path) -> str:
    """A catalog override file marking every dataset of config/test.yaml `gpu: true`.

    config/test.yaml trains on UCI Energy, a CPU dataset, so its training jobs would not ask for a
    GPU at all. With this catalog they ask for `gpu=1` as the Fashion-MNIST/CIFAR-10/PTB jobs do,
    which exercises the GPU request end to end (catalog -> rule resource -> profile/plugin ->
    `sbatch --gpus=1` -> a GPU handed out). `device: cpu` in the test config keeps training on the
    CPU, so outputs stay comparable with a local run (which uses the same catalog).
    """
    config = yaml.safe_load((workdir / "config" / "test.yaml").read_text())
    datasets = sorted({exp["dataset"] for exp in config["experiments"].values() if "dataset" in exp})
    catalog = {"datasets": {dataset: {"gpu": True} for dataset in datasets}}
    path = workdir / "config" / "datasets.gpu-test.yaml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    return str(path.relative_to(workdir))


def _drop_timing(value):
    if isinstance(value, dict):
        return {k: _drop_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_drop_timing(v) for v in value]
    return value


def compare_results(local: Path, cluster: Path) -> int:
    """Assert that both results/ trees hold the same files with the same contents (timings aside).

    What the cluster jobs make (results/runs/: chunk parquets and JSONs) and their aggregates
    (results/scalars/) must be equal exactly, without timing columns/keys. Figure and table data
    (CSV, made by local rules in both runs) are compared numerically to 1e-9 and their formatted
    text not at all: the table text is sensitive to ~1e-15 noise that numpy's reductions produce
    from run to run (a standard error of 7e-15 in one run and 0 in the other printed as
    "0.000000000000007" against "0"), which is not what this test is about. PDFs only have to
    exist in both. Returns the number of files compared.
    """
    skip_dirs = {"benchmarks", "tensorboard"}

    def files(root: Path) -> set[Path]:
        return {
            p.relative_to(root)
            for p in (root / "results").rglob("*")
            if p.is_file() and not skip_dirs & set(p.relative_to(root / "results").parts[:1])
        }

    local_files, cluster_files = files(local), files(cluster)
    assert local_files == cluster_files, (
        f"only local: {sorted(map(str, local_files - cluster_files))}; "
        f"only cluster: {sorted(map(str, cluster_files - local_files))}"
    )
    # Figures over measured time (best-so-far against wall time, run-time violins) differ by nature.
    timed_figures = ("HPOCurves", "Runtime")
    for rel in sorted(local_files):
        a, b = local / rel, cluster / rel
        exact = rel.parts[1] in ("runs", "scalars")
        if rel.parts[1] == "figures" and rel.name.startswith(timed_figures):
            continue
        if rel.suffix in (".parquet", ".csv"):
            read = pd.read_parquet if rel.suffix == ".parquet" else pd.read_csv
            fa, fb = read(a), read(b)
            fa = fa.drop(columns=[c for c in fa.columns if c in TIMING_KEYS])
            fb = fb.drop(columns=[c for c in fb.columns if c in TIMING_KEYS])
            if exact:
                pd.testing.assert_frame_equal(fa, fb, obj=str(rel))
            else:
                assert list(fa.columns) == list(fb.columns) and len(fa) == len(fb), rel
                # `*_text` columns are the formatted text (numeric-looking, but see above).
                numeric = [c for c in fa.columns if pd.api.types.is_numeric_dtype(fa[c]) and not c.endswith("_text")]
                pd.testing.assert_frame_equal(
                    fa[numeric], fb[numeric], check_dtype=False, rtol=1e-9, atol=1e-9, obj=str(rel)
                )
        elif rel.suffix == ".json":
            assert _drop_timing(json.loads(a.read_text())) == _drop_timing(json.loads(b.read_text())), rel
    return len(local_files)


def plain_experiment_targets(workdir: Path) -> list[str]:
    """The outputs of config/test.yaml's plain (grid-free) experiments and of the figures and tables
    built from them alone.

    The whole test config takes about 2.5 min per run on two cores (mostly its Sensitivity grid);
    run twice (locally and on the cluster) that breaks the test's budget. The plain experiments
    still cover every kind of job: fetch (local), preprocess and train (cluster, several chunks per
    algorithm), aggregate, figure and table (local).
    """
    config = yaml.safe_load((workdir / "config" / "test.yaml").read_text())
    plain = {
        name
        for name, exp in config["experiments"].items()
        if not exp.get("grid") and exp.get("enabled", True) and exp.get("kind", "train") in ("train", "bayesopt")
    }
    assert plain, "config/test.yaml has no experiment without a grid"
    targets = [f"results/scalars/{name}{suffix}" for name in sorted(plain) for suffix in (".parquet", "_final.csv")]
    for name, spec in (config.get("figures") or {}).items():
        if set(spec.get("experiments", [])) <= plain:
            targets.append(f"results/figures/{name}.pdf")
    for name, spec in (config.get("tables") or {}).items():
        if set(spec.get("experiments", [])) <= plain:
            targets += [f"results/tables/{name}.tex", f"results/tables/{name}.csv"]
    return targets


def test_profile_runs_test_config_on_slurm(cluster, data_mirror, tmp_path):
    """config/test.yaml through profiles/slurm: all non-local jobs via sbatch, training jobs with a
    GPU, and the same results as `snakemake -c2` on the same config."""
    local, remote = copy_workflow(tmp_path / "local"), copy_workflow(tmp_path / "cluster")
    catalog = gpu_catalog(local)
    gpu_catalog(remote)
    targets = plain_experiment_targets(local)
    config = ["--configfile", "config/test.yaml", "--config", f"data_mirror={data_mirror}", f"catalog={catalog}"]

    # Both runs at once: the cluster run spends much of its time waiting between status checks.
    local_run = start_snakemake(local, ["-c2", *config, "--", *targets], None)
    try:
        output = run_through_profile(cluster, remote, [*config, "--", *targets], timeout=480)
    except BaseException:
        local_run.kill()
        local_run.wait()
        raise
    finish_snakemake(local_run, local, timeout=480)

    # The profile's squeue status checks were used as they are (sacct fails on this cluster).
    assert "Falling back to 'sacct'" not in output
    # Jobs that train (chunks of seeds, BayesOpt repetitions) ask for the dataset's GPU; the rest don't.
    jobs = check_cluster_jobs(cluster, output, lambda rule, comment: rule in ("train", "bayesopt"))
    assert any(rule == "bayesopt" for rule, _ in jobs.values()), "the BayesOpt repetitions did not run on SLURM"
    n_train = sum(rule == "train" for rule, _ in jobs.values())
    assert n_train > 1, f"expected several training jobs on the cluster, got {sorted(r for r, _ in jobs.values())}"
    assert compare_results(local, remote) > n_train
