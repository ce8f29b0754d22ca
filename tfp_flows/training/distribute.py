"""Training under `tf.distribute`: one strategy per run, chosen by name.

* ``none``: TensorFlow's default strategy (one device; the trainer's XLA loop).
* ``mirrored``: `tf.distribute.MirroredStrategy` over the visible GPUs, or, on a machine
  without GPUs, over its logical CPU devices (`split_cpu` makes several; with one CPU
  device it is a one-replica strategy).
* ``multi-worker``: `tf.distribute.MultiWorkerMirroredStrategy`, configured from the
  ``TF_CONFIG`` environment variable (cluster addresses and this task's index), with a
  bounded timeout on every collective so a lost worker ends the run instead of hanging.

Every replica computes the gradient of its share of the global batch; the gradients
are summed across replicas, so a step equals one step on the whole batch except for
batch normalisation, whose batch statistics are each replica's own.
"""

import json
import os
import socket
import subprocess
import sys

import tensorflow as tf

from tfp_flows.configs import choices_of
from tfp_flows.errors import UsageError
from tfp_flows.training.config import TrainConfig

__all__ = ["DISTRIBUTE_CHOICES", "any_worker", "collective_timeout", "is_chief", "is_multi_worker", "local_cluster",
           "make_strategy", "split_cpu", "start", "worker_index"]

DISTRIBUTE_CHOICES = choices_of(TrainConfig, "distribute")
COLLECTIVE_TIMEOUT = 120.0  # default seconds a collective may wait for the other workers


def collective_timeout():
    """Seconds a collective waits for the other workers: TFP_FLOWS_COLLECTIVE_TIMEOUT or 120."""
    return _seconds("TFP_FLOWS_COLLECTIVE_TIMEOUT", COLLECTIVE_TIMEOUT)


# Run by a child process: kill the parent (pid, seconds, message) unless it kills us first.
_WATCHDOG = """
import os, signal, sys, time
pid, limit, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
end = time.time() + limit
while time.time() < end:
    time.sleep(0.2)
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(0)
sys.stderr.write(message + chr(10))
sys.stderr.flush()
os.kill(pid, signal.SIGKILL)
"""


def _seconds(name, default):
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds") from None
    if not value > 0:
        raise UsageError(f"{name} must be positive")
    return value


def start(config):
    """(strategy or None, whether this process writes the run folder) for a `TrainConfig`.
    Call it before anything else runs TensorFlow (the CPU split and the multi-worker
    strategy must come first).

    A multi-worker strategy is ready once every worker has answered one all-reduce. A
    worker that is never started would leave the others waiting for good (TensorFlow's
    own wait is long, and it ignores SIGTERM meanwhile), so a watchdog process ends this
    one with one line after TFP_FLOWS_STARTUP_TIMEOUT seconds (default 300; the exit
    status is then 137, killed); nothing has been written by then."""
    if config.distribute == "none":
        return None, True
    if config.cpu_devices:
        split_cpu(config.cpu_devices)
    if config.distribute != "multi-worker":
        strategy = make_strategy(config.distribute)
        return strategy, is_chief(strategy)
    timeout, limit = collective_timeout(), _seconds("TFP_FLOWS_STARTUP_TIMEOUT", 300)
    workers = _tf_config()["cluster"]["worker"]

    message = (f"tfp-flows: error: not every worker of TF_CONFIG ({', '.join(workers)}) joined within {limit:g} s "
               f"(TFP_FLOWS_STARTUP_TIMEOUT); start all of them")
    # A process, not a thread: while TensorFlow waits for the cluster it holds the GIL.
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(limit), message])
    try:
        strategy = make_strategy("multi-worker", timeout=timeout)
        any_worker(strategy)(False)  # every worker answers
    finally:
        watchdog.kill()
        watchdog.wait()
    return strategy, is_chief(strategy)


def split_cpu(n):
    """Make `n` logical CPU devices (before TensorFlow has started its devices), so a
    CPU-only machine can run `mirrored` with `n` replicas. Returns their names."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * int(n))
    except RuntimeError:
        raise UsageError("the CPU must be split before TensorFlow starts its devices "
                         "(call split_cpu first thing)") from None
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def _tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UsageError("--distribute multi-worker needs TF_CONFIG (the cluster's worker addresses and this "
                         "task's index; see README, 'Training on several devices or machines')")
    try:
        cfg = json.loads(raw)
        workers = cfg["cluster"]["worker"]
        task = cfg["task"]
        if task["type"] not in ("worker", "chief") or not isinstance(task["index"], int):
            raise ValueError
        if not workers or not all(isinstance(w, str) and ":" in w for w in workers):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise UsageError('TF_CONFIG must look like {"cluster": {"worker": ["host:port", ...]}, '
                         '"task": {"type": "worker", "index": 0}}') from None
    return cfg


def make_strategy(kind, timeout=COLLECTIVE_TIMEOUT):
    """The `tf.distribute.Strategy` for ``none``, ``mirrored`` or ``multi-worker``."""
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        # NCCL is for GPUs; CPU replicas reduce through one device.
        return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if kind == "multi-worker":
        _tf_config()
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        try:
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except (RuntimeError, ValueError) as err:
            raise UsageError(f"cannot start the multi-worker strategy: {' '.join(str(err).split())[:200]} "
                             "(it must be created before TensorFlow runs anything)") from None
    raise UsageError(f"--distribute must be one of {', '.join(DISTRIBUTE_CHOICES)}, got {kind!r}")


def _cluster(strategy):
    """The cluster spec of a multi-worker strategy as a dict ({} otherwise)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return {} if resolver is None else resolver.cluster_spec().as_dict()


def is_multi_worker(strategy):
    return strategy is not None and bool(_cluster(strategy))


def worker_index(strategy):
    """This worker's index in a multi-worker cluster, the chief (or worker 0 when there
    is no chief) being 0; 0 outside a cluster."""
    if not is_multi_worker(strategy):
        return 0
    resolver = strategy.cluster_resolver
    return int(resolver.task_id or 0) + (1 if resolver.task_type == "worker" and "chief" in _cluster(strategy) else 0)


def is_chief(strategy):
    """Whether this process writes the run folder: always, but in a multi-worker cluster,
    where worker 0 (see `worker_index`) does."""
    return worker_index(strategy) == 0


def any_worker(strategy):
    """A compiled all-reduce `agree(flag) -> bool`: whether any worker passed True.
    Every worker must call it, the same number of times."""

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
    def summed(flag):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.identity(flag)), axis=None)

    return lambda flag: bool(summed(tf.constant(int(flag), tf.int32)).numpy() > 0)


def local_cluster(n):
    """TF_CONFIG values for `n` workers on 127.0.0.1 at free ports, worker i's at [i]
    (for trying multi-worker training on one machine; tests and benchmarks use it)."""
    ports = []
    for _ in range(n):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    workers = [f"127.0.0.1:{p}" for p in ports]
    return [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}) for i in range(n)]
