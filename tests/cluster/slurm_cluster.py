"""A throw-away one-node SLURM cluster on this machine, for testing `profiles/slurm` for real.

A dry run of `snakemake --profile profiles/slurm` only proves that the YAML parses. To prove that
the profile submits every job with `sbatch`, asks for a GPU where it should, and can follow jobs
without an accounting database, the tests start a real (if tiny) cluster from Debian's packages:

* install what is missing (`apt-get update && apt-get install -y slurmctld slurmd munge
  slurm-client`, about 15 s on Debian 12: SLURM 22.05, munge 0.5.15);
* write a minimal `slurm.conf` and `gres.conf` (one node `localhost`, one partition, fake GPUs
  backed by `/dev/null` and friends, no accounting) and a munge key under a temporary folder;
* start `munged`, `slurmctld` and `slurmd` in the foreground as our own children, so that we know
  their PIDs and stop exactly those (and nothing else) at the end, also on failure (context
  manager + `atexit`);
* wait until `sinfo` shows the node idle; if it never does, raise with the daemons' logs.

Only one such cluster runs on a machine at a time (an flock on LOCK_FILE; a second one waits),
because of the machine-wide symlink below.

The executor plugin's job step does not pass `SLURM_CONF` on, so `srun`/`scontrol` inside a job
read `/etc/slurm/slurm.conf`: we point a symlink there at our file, and remove it afterwards only if
we created it. A real `/etc/slurm/slurm.conf` is never touched (`ClusterUnavailable` instead).

Use from Python (`with SlurmCluster() as cluster: ... cluster.env ...`) or by hand:
`python tests/cluster/slurm_cluster.py` starts the cluster, prints the environment to use, and
stops it on Ctrl-C.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "munge", "slurm-client")
# The binaries each package provides (what we check to decide whether to install).
BINARIES = ("slurmctld", "slurmd", "munged", "sinfo", "sbatch", "squeue", "scontrol", "scancel")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
# One test cluster per machine at a time: job steps find the cluster through SYSTEM_CONF, which is
# machine-wide, so a second cluster would steal the first one's jobs ("Invalid job id specified").
# Two test sessions on one machine (colleagues sharing it, parallel CI jobs) therefore take turns.
LOCK_FILE = Path("/run/lock" if Path("/run/lock").is_dir() else tempfile.gettempdir()) / "onepass-slurm-test.lock"
LOCK_TIMEOUT_S = 900
PARTITION = "debug"
NODE = "localhost"
# What the node advertises, whatever this machine has (`SlurmdParameters=config_overrides`): enough
# that the profile's real-cluster requests (cpus_per_task, mem_mb) fit on it. Nothing enforces them
# (task/none, no cgroups) and the test workloads are tiny, so over-stating is harmless.
NODE_CPUS = 8
NODE_MEMORY_MB = 64000
# Fake GPUs: SLURM only needs a distinct device file per GPU to hand out; jobs never open them.
# Four, so that GPU training jobs need not queue behind each other on the test node.
FAKE_GPU_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom")


class ClusterUnavailable(RuntimeError):
    """This machine cannot host the test cluster at all (not root, no apt, a real SLURM config).

    Tests skip on this, with the message as the reason; every other failure is a real error.
    """


class ClusterError(RuntimeError):
    """The cluster could have run here but did not come up; the message carries the daemons' logs."""


def unavailable_reason() -> str | None:
    """Why the cluster cannot run on this machine, or None if it can (cheap, installs nothing)."""
    if sys.platform != "linux":
        return f"the test SLURM cluster needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "the test SLURM cluster needs root (to install SLURM and run slurmd)"
    if not all(shutil.which(b) for b in BINARIES) and not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install it"
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.is_symlink():
        return f"{SYSTEM_CONF} exists (a real SLURM installation); refusing to start a test cluster beside it"
    return None


def install_slurm(log=print) -> None:
    """Install SLURM and munge from the distribution if any binary is missing (no-op otherwise)."""
    missing = [b for b in BINARIES if not shutil.which(b)]
    if not missing:
        return
    log(f"installing {' '.join(PACKAGES)} (missing: {', '.join(missing)})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ClusterError(
                f"`{' '.join(cmd)}` failed with status {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
    still = [b for b in BINARIES if not shutil.which(b)]
    if still:
        raise ClusterError(f"after installing {' '.join(PACKAGES)}, still missing: {', '.join(still)}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    """One node (`localhost`), one partition (`debug`, the default), fake GPUs; see the module doc.

    `env` is the environment for SLURM clients (sinfo, sbatch, snakemake); `conf` the slurm.conf.
    The node advertises `NODE_CPUS` CPUs and `NODE_MEMORY_MB` MB (see there), so that the profile's
    real-cluster requests are accepted as they are.
    """

    def __init__(self, root: Path | None = None, cpus: int | None = None, log=print):
        self.log = log
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="onepass-slurm-")) if root is None else Path(root)
        self.cpus = cpus or NODE_CPUS
        self.memory_mb = NODE_MEMORY_MB
        self.conf = self.root / "etc" / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket.2"
        self.procs: dict[str, subprocess.Popen] = {}
        self._created_symlink = False
        self._created_etc_dir = False
        self._stopped = False
        self._lock_fd: int | None = None
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))

    # ----------------------------------------------------------------------------------- set-up
    def write_config(self) -> None:
        """Write slurm.conf, gres.conf and the munge key; make the folders munged insists on."""
        r = self.root
        for sub in ("etc", "state", "spool", "log", "run", "munge"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        # munged refuses a socket folder (or parents) that others cannot traverse or can write.
        for d in (r, r / "munge", r / "run"):
            d.chmod(0o711)
        key = r / "etc" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        ctld_port, slurmd_port = _free_port(), _free_port()
        gres = f"gpu:{len(FAKE_GPU_FILES)}"
        self.conf.write_text(
            f"""# Written by tests/cluster/slurm_cluster.py: a throw-away one-node cluster.
ClusterName=onepasstest
SlurmctldHost={NODE}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Jobs without --mem would otherwise get the whole node and run one at a time.
DefMemPerCPU=1000
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
# Keep finished jobs visible to squeue/scontrol: the profile follows jobs with squeue.
MinJobAge=600
GresTypes=gpu
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} Gres={gres} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""
        )
        (r / "etc" / "gres.conf").write_text(
            "".join(f"NodeName={NODE} Name=gpu File={path}\n" for path in FAKE_GPU_FILES)
        )

    def _acquire_machine_lock(self, timeout: float = LOCK_TIMEOUT_S) -> None:
        """Wait (up to `timeout` s) until no other test cluster runs on this machine; see LOCK_FILE.

        An flock dies with its process, so a crashed run never leaves the lock behind.
        """
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    holder = LOCK_FILE.read_text().strip() or "unknown"
                    raise ClusterError(
                        f"another SLURM test cluster (pid {holder}) held {LOCK_FILE} for over {timeout:.0f} s"
                    ) from None
                if not announced:
                    self.log(f"waiting for another SLURM test cluster on this machine ({LOCK_FILE})")
                    announced = True
                time.sleep(1)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _release_machine_lock(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _link_system_conf(self) -> None:
        if SYSTEM_CONF.is_symlink():
            # A stale link from an earlier run that died without cleaning up (we hold the machine
            # lock, so no live cluster uses it): replace it only if it points into a test folder.
            target = os.readlink(SYSTEM_CONF)
            if "onepass-slurm-" not in target:
                raise ClusterUnavailable(f"{SYSTEM_CONF} is a symlink to {target}, not ours; not touching it")
            SYSTEM_CONF.unlink()
        elif SYSTEM_CONF.exists():
            raise ClusterUnavailable(f"{SYSTEM_CONF} exists (a real SLURM installation); not touching it")
        if not SYSTEM_CONF.parent.exists():
            SYSTEM_CONF.parent.mkdir(parents=True)
            self._created_etc_dir = True
        SYSTEM_CONF.symlink_to(self.conf)
        self._created_symlink = True

    def _spawn(self, name: str, cmd: list[str]) -> None:
        out = open(self.root / "log" / f"{name}.out", "w")  # the child keeps its own copy
        # Own session: a Ctrl-C aimed at pytest does not hit the daemons before we stop them in order.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        out.close()
        self.procs[name] = proc
        self.log(f"started {name} (pid {proc.pid})")

    def _wait_for(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise ClusterError(
                        f"{name} exited with status {proc.returncode} while waiting for {what}\n{self.logs()}"
                    )
            if ready():
                return
            time.sleep(0.2)
        raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")

    def node_state(self) -> str:
        proc = subprocess.run(
            ["sinfo", "-h", "-N", "-n", NODE, "-o", "%t"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def start(self, install: bool = True) -> SlurmCluster:
        """Install if needed, write the configuration, start the daemons, wait for an idle node."""
        reason = unavailable_reason()
        if reason:
            raise ClusterUnavailable(reason)
        atexit.register(self.stop)
        try:
            self._acquire_machine_lock()  # also keeps two apt-get runs apart
            if install:
                install_slurm(self.log)
            self.write_config()
            self._link_system_conf()
            self._spawn(
                "munged",
                [
                    shutil.which("munged"),
                    "--foreground",
                    "--force",
                    f"--socket={self.munge_socket}",
                    f"--key-file={self.root / 'etc' / 'munge.key'}",
                    f"--pid-file={self.root / 'run' / 'munged.pid'}",
                    f"--log-file={self.root / 'log' / 'munged.log'}",
                    f"--seed-file={self.root / 'run' / 'munged.seed'}",
                ],
            )
            self._wait_for("the munge socket", self.munge_socket.exists, 15)
            self._spawn("slurmctld", [shutil.which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
            self._spawn("slurmd", [shutil.which("slurmd"), "-D", "-N", NODE, "-f", str(self.conf)])
            self._wait_for("sinfo to show node localhost idle", lambda: self.node_state() == "idle", 60)
        except BaseException:
            self.stop()
            raise
        self.log(
            f"SLURM test cluster up: {self.cpus} CPUs, {self.memory_mb} MB, gpu:{len(FAKE_GPU_FILES)}, conf {self.conf}"
        )
        return self

    # -------------------------------------------------------------------------------- tear-down
    def logs(self, tail: int = 4000) -> str:
        """The last `tail` characters of every daemon log, for error messages."""
        parts = []
        log_dir = self.root / "log"
        for path in sorted(log_dir.glob("*")) if log_dir.exists() else []:
            text = path.read_text(errors="replace")
            parts.append(f"----- {path.name} -----\n{text[-tail:]}")
        return "\n".join(parts) or "(no daemon logs)"

    def stop(self) -> None:
        """Cancel our jobs, stop exactly the daemons we started (by PID), undo the symlink."""
        if self._stopped:
            return
        self._stopped = True
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "--user", "root"], env=self.env, capture_output=True, timeout=20)
            time.sleep(0.5)
        # Reverse start order: slurmd, slurmctld, then munged (which the other two talk to).
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
                self.log(f"stopped {name} (pid {proc.pid})")
        if self._created_symlink and SYSTEM_CONF.is_symlink() and os.readlink(SYSTEM_CONF) == str(self.conf):
            SYSTEM_CONF.unlink()
            if self._created_etc_dir and not any(SYSTEM_CONF.parent.iterdir()):
                SYSTEM_CONF.parent.rmdir()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        self._release_machine_lock()
        atexit.unregister(self.stop)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> int:
    """Start the cluster by hand; print how to use it; stop it on Ctrl-C (or SIGTERM)."""
    cluster = SlurmCluster()
    try:
        cluster.start()
    except ClusterUnavailable as e:
        print(f"cannot start a test cluster here: {e}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    print(f"export SLURM_CONF={cluster.conf}\n# Ctrl-C stops the cluster", flush=True)
    try:
        while all(p.poll() is None for p in cluster.procs.values()):
            time.sleep(1)
        print(f"a daemon exited:\n{cluster.logs()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
