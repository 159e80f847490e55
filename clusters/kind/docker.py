"""A Docker daemon for the kit and for kind, started by the project when none answers.

kind and the image builds need a Docker engine; this machine has none running and no
registry. If a daemon already answers (``$DOCKER_HOST`` or the default socket), it is
used as it is and never stopped. Otherwise Debian's ``docker.io`` (installed with
apt-get when dockerd is missing) is started with its own data root, exec root, pid file
and socket, and with every feature that would touch the host's network turned off
(``--iptables=false --ip-forward=false --ip-masq=false --bridge=none``). Its default OCI
runtime is ``runtime_wrapper.py``, which drops the capabilities this VM cannot grant.
The host state it could disturb is recorded before it starts and restored when it stops.

Several runs may use the project's daemon at once (two pytest sessions, a build and a
run). Each takes a lease, a file named by its PID and start time under
``/run/egress-conformance-docker/leases``; ``stop()`` gives the lease back and ends the
daemon only when no live run holds one, so a run never stops a daemon under another.
``daemon-up`` takes a lease of its own that only ``daemon-down`` gives back, or the
next start of a daemon, when the one it was taken for no longer runs. A cluster left up
(``--keep-cluster``) holds one named after it for as long as its node container runs,
so a later run's stop does not end it with the daemon.

The data root is ``~/.cache/egress-conformance/kind/docker``: its images are the kit's
cache and survive between runs. The socket, pid file and host record live under
``/run/egress-conformance-docker``.

There is no default bridge network: pass ``--network none`` (or a network you create)
to ``docker run`` and ``docker build``; builds need ``DOCKER_BUILDKIT=0`` (in ``env``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from clusters.kind import hoststate
from clusters.protocol import ClusterError, PrerequisiteMissing
from clusters.shared import cache, processes
from clusters.shared.processes import start_ticks
from clusters.shared.waiting import NotYet, wait_for

RUN_DIR = Path("/run/egress-conformance-docker")
SOCKET = RUN_DIR / "docker.sock"
PIDFILE = RUN_DIR / "docker.pid"
HOST_RECORD = RUN_DIR / "host-state.json"
DAEMON_LOG = RUN_DIR / "dockerd.log"
RUNTIME_NAME = "egress-runc"
RUNTIME_PATH = RUN_DIR / "runtime" / RUNTIME_NAME
WRAPPER_SOURCE = Path(__file__).resolve().parent / "runtime_wrapper.py"
DEFAULT_SOCKET = Path("/var/run/docker.sock")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
LEASES = RUN_DIR / "leases"
MANUAL_LEASE = "manual"  # daemon-up's, held until daemon-down
KEPT_PREFIX = "cluster-"  # a kept kind cluster's, held while its node container runs


def data_root() -> Path:
    """Docker's data root, under the kit cache so that built images persist."""
    return cache.cache_root() / "docker"


def docker_cli() -> str:
    """The docker client: whichever is on PATH (a newer CLI talks to 20.10 fine)."""
    found = shutil.which("docker", path=f"{os.environ.get('PATH', '')}:{cache.SYSTEM_PATH}")
    if not found:
        raise PrerequisiteMissing("the docker client is missing: apt-get install docker.io")
    return found


def answers(host: str) -> bool:
    """True when a Docker daemon answers at ``host`` (``unix://...``)."""
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).is_socket():
        return False
    try:
        completed = subprocess.run(
            [docker_cli(), "version", "--format", "{{.Server.Version}}"],
            env={**os.environ, "DOCKER_HOST": host},
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (subprocess.TimeoutExpired, PrerequisiteMissing):
        return False
    return completed.returncode == 0


@dataclass
class DockerDaemon:
    """A Docker daemon to talk to; ``owned`` when this process started it (then only
    ``stop()`` ends it, by its pid, and restores the host state)."""

    host: str
    owned: bool = False
    pid: int | None = None
    lease: Path | None = None  # this run's lease on the project's daemon
    started: bool = False  # this run started it: it did not answer before

    @property
    def env(self) -> dict[str, str]:
        """os.environ plus DOCKER_HOST for this daemon and the classic builder."""
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"}

    def docker(
        self,
        *args: str,
        what: str | None = None,
        stdin: bytes | None = None,
        timeout: float = 600.0,
    ) -> str:
        """Run ``docker ARGS`` against this daemon; stdout, or ClusterError."""
        return cache.run(
            [docker_cli(), *args],
            what=what or f"docker {' '.join(args[:2])}",
            env=self.env,
            stdin=stdin,
            timeout=timeout,
        )

    def image_id(self, image: str) -> str | None:
        """The id of a local image, or None when the daemon does not have it."""
        completed = subprocess.run(
            [docker_cli(), "image", "inspect", "--format", "{{.Id}}", image],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        return completed.stdout.strip() if completed.returncode == 0 else None

    @classmethod
    def ensure(cls) -> DockerDaemon:
        """A daemon that answers: ``$DOCKER_HOST``, the default socket, the project's
        daemon if it runs already, or the project's daemon started now (owned)."""
        configured = os.environ.get("DOCKER_HOST")
        if configured and configured != f"unix://{SOCKET}":
            if answers(configured):
                return cls(configured)
            raise PrerequisiteMissing(
                f"DOCKER_HOST={configured} does not answer: start that daemon or unset "
                "DOCKER_HOST to let the project start its own"
            )
        if answers(f"unix://{DEFAULT_SOCKET}"):
            return cls(f"unix://{DEFAULT_SOCKET}")
        with _daemon_lock():
            lease = take_lease()
            if answers(f"unix://{SOCKET}"):
                return cls(f"unix://{SOCKET}", owned=True, pid=_read_pid(), lease=lease)
            drop_stale_manual_lease()
            try:
                daemon = _start()
            except BaseException:
                lease.unlink(missing_ok=True)
                raise
            daemon.lease = lease
            return daemon

    @classmethod
    def running(cls) -> DockerDaemon | None:
        """The project's daemon as its owner, from its pid file (for ``daemon-down``)."""
        pid = _read_pid()
        if pid is None or not _is_our_dockerd(pid):
            return None
        return cls(f"unix://{SOCKET}", owned=True, pid=pid)

    def stop(self) -> list[str]:
        """Give back this run's lease; stop the project's daemon (and restore the host
        state) when no live run holds one any more.

        Returns what was restored, one line each. A daemon not the project's is left
        running, and so is one that another live run still uses.
        """
        if not self.owned:
            return []
        with _daemon_lock():
            if self.lease is not None:
                self.lease.unlink(missing_ok=True)
                self.lease = None
            others = live_leases()
            if others:
                cache.say(
                    f"the project's Docker daemon stays up: still used by {', '.join(others)}"
                )
                self.owned = False
                return []
            return self._stop_locked()

    def release(self) -> None:
        """Give back this run's lease and leave the daemon running, whoever else uses
        it: what lives in it (a reused cluster) is not this run's to end."""
        if not self.owned:
            return
        with _daemon_lock():
            if self.lease is not None:
                self.lease.unlink(missing_ok=True)
                self.lease = None
        self.owned = False

    def _stop_locked(self) -> list[str]:
        """Stop by pid (SIGTERM, then SIGKILL), unmount leftovers, restore the host."""
        bridges = self._bridge_names()
        if self.pid is not None and _is_our_dockerd(self.pid):
            processes.terminate([self.pid], grace=STOP_TIMEOUT_S)
        _terminate_managed_containerd()
        _unmount_leftovers()
        done = []
        if HOST_RECORD.is_file():
            recorded = hoststate.HostState.from_json(HOST_RECORD.read_text())
            done = hoststate.restore(recorded, docker_links=bridges)
            HOST_RECORD.unlink()
        for leftover in (SOCKET, PIDFILE):
            leftover.unlink(missing_ok=True)
        self.owned = False
        return done

    def _bridge_names(self) -> set[str]:
        """The host bridges of this daemon's networks (removed from the host at stop)."""
        try:
            ids = self.docker("network", "ls", "--quiet", "--filter", "driver=bridge").split()
        except ClusterError:
            return set()
        return {f"br-{network_id[:12]}" for network_id in ids}


def ensure_dockerd() -> str:
    """The dockerd binary, installing Debian's docker.io when it is missing."""
    policy = Path("/usr/sbin/policy-rc.d")
    guard = not policy.exists() and shutil.which("dockerd", path=cache.SYSTEM_PATH) is None
    if guard:  # never let the package start the system dockerd with its default flags
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        return cache.ensure_installed(
            "dockerd",
            "docker.io",
            fix="install docker.io yourself (apt-get install docker.io) or point DOCKER_HOST "
            "at a daemon",
        )
    finally:
        if guard:
            policy.unlink(missing_ok=True)


def install_runtime_wrapper() -> Path:
    """Copy runtime_wrapper.py to where dockerd runs it (outside the project tree)."""
    cache.atomic_write(RUNTIME_PATH, WRAPPER_SOURCE.read_bytes(), mode=0o755)
    return RUNTIME_PATH


def dockerd_argv(dockerd: str) -> list[str]:
    """dockerd's command line: own roots and socket, nothing that touches the host's
    network, the capability-dropping runtime as the default."""
    config = RUN_DIR / "daemon.json"  # empty: never read the host's /etc/docker/daemon.json
    return [
        dockerd,
        f"--data-root={data_root()}",
        f"--exec-root={RUN_DIR / 'exec'}",
        f"--pidfile={PIDFILE}",
        f"--host=unix://{SOCKET}",
        f"--config-file={config}",
        "--iptables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--bridge=none",
        f"--add-runtime={RUNTIME_NAME}={RUNTIME_PATH}",
        f"--default-runtime={RUNTIME_NAME}",
        "--log-level=warn",
    ]


def _start() -> DockerDaemon:
    if os.geteuid() != 0:
        raise PrerequisiteMissing(
            "starting a Docker daemon needs root: run as root, or start Docker yourself "
            "and set DOCKER_HOST"
        )
    dockerd = ensure_dockerd()
    if not Path("/usr/sbin/runc").is_file():
        raise PrerequisiteMissing("runc is missing: apt-get install runc")
    RUN_DIR.mkdir(mode=0o700, exist_ok=True)
    data_root().mkdir(parents=True, exist_ok=True)
    install_runtime_wrapper()
    cache.atomic_write(RUN_DIR / "daemon.json", "{}\n")
    if not HOST_RECORD.is_file():  # a record left by a crash is older, so truer
        cache.atomic_write(HOST_RECORD, hoststate.HostState.record().to_json())
    SOCKET.unlink(missing_ok=True)
    with DAEMON_LOG.open("ab") as log:
        process = subprocess.Popen(
            dockerd_argv(dockerd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PATH": cache.SYSTEM_PATH},
            start_new_session=True,  # a Ctrl-C of the caller does not kill it mid-stop
        )
    daemon = DockerDaemon(f"unix://{SOCKET}", owned=True, pid=process.pid, started=True)

    def answering() -> None:
        if answers(daemon.host):
            return
        if process.poll() is not None:
            raise ClusterError(f"dockerd exited with {process.returncode}")
        raise NotYet("its API to answer")

    try:
        wait_for(answering, timeout=START_TIMEOUT_S, what="dockerd", interval=0.5, max_interval=0.5)
    except ClusterError:
        daemon._stop_locked()
        tail = DAEMON_LOG.read_text(errors="replace").strip().splitlines()[-2:]
        raise ClusterError(
            f"dockerd did not start: {' | '.join(tail)} (see {DAEMON_LOG})"
        ) from None
    cache.say(f"started dockerd (pid {process.pid}) at {daemon.host}")
    return daemon


def _lease_name(pid: int) -> str | None:
    ticks = start_ticks(pid)
    return None if ticks is None else f"{pid}-{ticks}"


def take_lease(name: str | None = None) -> Path:
    """This process's lease (or a named one, for daemon-up) on the project's daemon."""
    LEASES.mkdir(parents=True, exist_ok=True)
    lease = LEASES / (name or _lease_name(os.getpid()) or str(os.getpid()))
    lease.touch()
    return lease


def drop_stale_manual_lease() -> None:
    """A daemon-up lease belongs to the daemon it started; when that daemon no longer
    runs (killed, or the machine restarted), the lease would keep the next run's daemon
    up for good, so it goes before a new daemon starts."""
    manual = LEASES / MANUAL_LEASE
    if manual.exists():
        manual.unlink()
        cache.say("dropped the daemon-up lease of a Docker daemon that no longer runs")


def keep_for(cluster: str) -> Path:
    """The lease of a kind cluster left up: the daemon it lives in stays while it runs."""
    return take_lease(f"{KEPT_PREFIX}{cluster}")


def node_running(cluster: str) -> bool:
    """Whether kind's node container of ``cluster`` runs in the project's daemon."""
    node = f"{cluster}-control-plane"  # kind's name for a one-node cluster's node
    completed = subprocess.run(
        [docker_cli(), "ps", "--quiet", "--filter", f"name=^{node}$"],
        env={**os.environ, "DOCKER_HOST": f"unix://{SOCKET}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return completed.returncode == 0 and bool(completed.stdout.strip())


def live_leases() -> list[str]:
    """The leases of runs still alive, and of kept clusters still running (the others'
    leases are removed on the way)."""
    alive = []
    for lease in sorted(LEASES.glob("*")) if LEASES.is_dir() else []:
        if lease.name == MANUAL_LEASE:
            alive.append("daemon-up")
            continue
        if lease.name.startswith(KEPT_PREFIX):
            cluster = lease.name.removeprefix(KEPT_PREFIX)
            if node_running(cluster):
                alive.append(f"kept cluster {cluster}")
            else:
                lease.unlink(missing_ok=True)  # deleted, or gone with an earlier daemon
            continue
        pid = lease.name.split("-", 1)[0]
        if pid.isdigit() and _lease_name(int(pid)) == lease.name:
            alive.append(f"pid {pid}")
        else:
            lease.unlink(missing_ok=True)  # its run is gone
    return alive


@contextlib.contextmanager
def _daemon_lock() -> Iterator[None]:
    RUN_DIR.mkdir(mode=0o700, exist_ok=True)
    with (RUN_DIR / "daemon.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_pid(pidfile: Path = PIDFILE) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _is_our_dockerd(pid: int) -> bool:
    """Is ``pid`` the dockerd this module starts (its command names our pid file)?"""
    return f"--pidfile={PIDFILE}" in _cmdline(pid)


def _terminate_managed_containerd() -> None:
    """dockerd stops the containerd it started; if it died first, stop that one too."""
    pidfile = RUN_DIR / "exec" / "containerd" / "containerd.pid"
    pid = _read_pid(pidfile)
    if pid is not None and any(str(RUN_DIR) in arg for arg in _cmdline(pid)):
        processes.terminate([pid], grace=20)


def _unmount_leftovers() -> None:
    """Unmount what a killed daemon left mounted under its own roots."""
    roots = (str(RUN_DIR), str(data_root()))
    mounts = [
        line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if line.strip()
    ]
    for mountpoint in sorted(mounts, key=len, reverse=True):
        if mountpoint.startswith(roots):
            subprocess.run(["umount", "-l", mountpoint], check=False, capture_output=True)
