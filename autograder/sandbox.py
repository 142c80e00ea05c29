"""The sandbox a student's notebook runs in when the grader autogrades it (Debian's ``bubblewrap``).

nbgrader runs on the grader's side, as usual, with a gradebook of its own for each student; only
the notebook's **kernel** -- the process that runs the student's code -- is sandboxed. nbgrader
starts it through a kernelspec (:func:`write_kernelspec`) whose command is this module's
launcher (``python -m autograder.sandbox kernel``). The launcher, still on the grader's side,
gives the notebook's folder to the sandbox's user and replaces itself with ``bwrap``, which

- gives the kernel new IPC, PID, network and UTS namespaces: **no network** (not even the
  host's loopback: the kernel talks to nbgrader over Unix sockets, ``KernelManager.transport =
  ipc``, in the student's own runtime folder), no view of the grader's processes;
- builds a new root from nothing but, read-only: the operating system (``/usr``, ``/etc``),
  the Python installation, the course library (``genrelab/``: not the autograder, not the
  solutions, not the thresholds) and the **held-out view** of the prepared data (train and valid
  only: :func:`genrelab.dataset.write_student_view`); and, writable, the notebook's own folder
  (the autograded copy of the submission), a private ``/tmp`` and the runtime folder. Nothing
  else exists in it: no other student, no gradebook, no grader code, no test labels;
- runs the kernel as an **unprivileged user** of its own (uid ``UID_BASE + slot``, the
  student's position in the batch: one per notebook, so that process limits count one sandbox
  each), with no capabilities and ``no_new_privs``;
- applies limits (:class:`Limits`): data memory (``RLIMIT_DATA``), processes and threads
  (``RLIMIT_NPROC``: a fork bomb stops there), file size (``RLIMIT_FSIZE``; the in-memory
  ``/tmp`` and ``/dev/shm`` are capped at that size too) and no core dumps;
  wall-clock time is nbgrader's per-cell timeout plus the grader's limit on the whole run;
- dies with nbgrader (``--die-with-parent``): when the kernel is shut down, every process the
  notebook started goes with it, before nbgrader writes the autograded notebook.

:func:`check` tells whether the sandbox works on this machine; grading refuses to start without
it unless the instructor passes ``--unsafe``.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

KERNEL_NAME = "genrelab-sandbox"
UID_BASE = 61000
"""Sandbox users are ``UID_BASE + slot`` (no account needed: they own nothing but the folder
the notebook runs in)."""


def library():
    """The one folder of the project a notebook sees: the course library, ``genrelab/``."""
    import genrelab

    return Path(genrelab.__file__).resolve().parent


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096    # RLIMIT_DATA of the kernel (see autograder.evaluate for why DATA)
    processes: int = 512     # RLIMIT_NPROC: processes and threads of the sandbox's user
    file_mb: int = 512       # RLIMIT_FSIZE: the largest file the notebook may write
    cell_timeout: int = 600  # seconds one cell may run (nbgrader's Execute.timeout)
    wall_s: int = 1800       # seconds the whole autograde run may take
    # compute threads of the kernel's numeric libraries (TensorFlow's op pools, OpenMP); 0:
    # theirs, or the grader's own TF_NUM_INTRAOP_THREADS / OMP_NUM_THREADS. Several students
    # graded at once on the same cores run faster with one pool each no wider than their share.
    threads: int = 0


class SandboxUnavailable(RuntimeError):
    """No working sandbox on this machine: the message says what to install."""


def bwrap():
    return shutil.which("bwrap") or ("/usr/bin/bwrap" if Path("/usr/bin/bwrap").is_file() else None)


def _python_paths():
    """The folders a Python process of this environment reads: the environment's prefix, the
    base installation and the interpreter's real location."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent}
    return sorted(p for p in paths if p.exists())


def _ro_binds(paths):
    """bwrap arguments binding ``paths`` read-only at the same place, their parents created
    world-traversable (bwrap would otherwise make them 0700 under a private root)."""
    args, made = [], set()
    for path in paths:
        path = Path(path)
        for parent in reversed(path.parents):
            if str(parent) not in ("/", "/usr", "/etc") and parent not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", str(path), str(path)]
        made.add(path)
    return args


def command(config, workdir, argv):
    """The full command the launcher ``exec``s: bwrap, the limits, the user change, then
    ``argv`` (the kernel) inside the sandbox, in ``workdir``."""
    limits = Limits(**config["limits"])
    uid = UID_BASE + int(config["slot"])
    read_only = [*_python_paths(), Path(config["library"]), Path(config["data_root"])]
    env = {"HOME": "/tmp", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
           "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "PYTHONNOUSERSITE": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "JAX_PLATFORMS": "cpu",
           "CUDA_VISIBLE_DEVICES": "", "GENRELAB_DATA_DIR": config["data_root"],
           # the library by its own path (an editable install's finder may point elsewhere)
           "PYTHONPATH": str(Path(config["library"]).parent),
           "GENRELAB_DATASET": config["dataset"], "GENRELAB_SANDBOX": "1",
           **({"GENRELAB_AUDIO": config["audio_root"]} if config.get("audio_root") else {}),
           **{k: os.environ[k] for k in ("KERAS_BACKEND", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                         "TF_NUM_INTEROP_THREADS") if k in os.environ},
           **({"TF_NUM_INTRAOP_THREADS": str(limits.threads), "TF_NUM_INTEROP_THREADS": "1",
               "OMP_NUM_THREADS": str(limits.threads)} if limits.threads else {})}
    args = [config["bwrap"], "--die-with-parent", "--new-session", "--unshare-ipc",
            "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "sandbox", "--clearenv",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        if Path(f"/{name}").is_symlink():
            args += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
        elif Path(f"/{name}").is_dir():
            args += ["--ro-bind", f"/{name}", f"/{name}"]
    # /tmp and /dev/shm live in memory: each is capped at the file-size limit
    tmpfs = str(limits.file_mb << 20)
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", tmpfs, "--tmpfs",
             "/tmp", "--perms", "1777", "--size", tmpfs, "--tmpfs", "/dev/shm",
             *_ro_binds(read_only)]
    for path in (workdir, config["runtime"]):
        args += _parents_for_bind(path) + ["--bind", str(path), str(path)]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--chdir", str(workdir), "--",
             "prlimit", f"--data={limits.memory_mb << 20}", f"--nproc={limits.processes}",
             f"--fsize={limits.file_mb << 20}", "--core=0", "--",
             "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
             "--bounding-set=-all", "--no-new-privs", "--", *argv]
    return args


def _parents_for_bind(path):
    """``--dir`` arguments for the parents of a writable bind (world-traversable)."""
    args = []
    for parent in reversed(Path(path).parents):
        if str(parent) not in ("/", "/usr", "/etc", "/tmp"):
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _give(path, uid):
    """Hand ``path`` (a folder, and what is in it) to the sandbox's user; symlinks are
    removed, never followed."""
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            item = os.path.join(root, name)
            if os.path.islink(item):
                os.unlink(item)
            else:
                os.chown(item, uid, uid, follow_symlinks=False)
    os.chown(path, uid, uid)


def launch(config_file, kernel_args):
    """The launcher nbgrader's kernelspec runs (grader side): check where the kernel is to run,
    give that folder to the sandbox's user, and become bwrap."""
    config = json.loads(Path(config_file).read_text())
    workdir = Path.cwd().resolve()
    allowed = Path(config["writable_root"]).resolve()
    if workdir != allowed and allowed not in workdir.parents:
        sys.exit(f"sandbox: refusing to run a kernel in {workdir}, outside {allowed}")
    uid = UID_BASE + int(config["slot"])
    _give(workdir, uid)
    runtime = Path(config["runtime"])
    os.chmod(runtime, 0o777)
    for item in runtime.iterdir():  # the connection file: the kernel reads it
        os.chmod(item, 0o644)
    args = command(config, workdir, [sys.executable, "-m", "ipykernel_launcher", *kernel_args])
    os.execv(args[0], args)


def write_kernelspec(folder, *, data_root, dataset, runtime, writable_root, slot,
                     limits=Limits(), audio_root=None):
    """A kernelspec ``folder/kernels/genrelab-sandbox`` whose kernels run sandboxed; point
    ``JUPYTER_PATH`` at ``folder`` and pass ``--Execute.kernel_name=genrelab-sandbox``."""
    spec_dir = Path(folder) / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    config = {"bwrap": bwrap(), "library": str(library()), "data_root": str(data_root),
              "dataset": dataset, "runtime": str(runtime), "writable_root": str(writable_root),
              "slot": int(slot), "limits": asdict(limits),
              "audio_root": str(audio_root) if audio_root else None}
    (spec_dir / "sandbox.json").write_text(json.dumps(config, indent=1) + "\n")
    spec = {"argv": [sys.executable, "-I", "-m", "autograder.sandbox", "kernel",
                     "--config", str(spec_dir / "sandbox.json"), "-f", "{connection_file}"],
            "display_name": "Python 3 (Genre Lab sandbox)", "language": "python",
            # a time limit interrupts the kernel by a message: a signal to bwrap would not
            # reach the kernel inside
            "interrupt_mode": "message",
            "env": {"PYTHONPATH": ""}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
    return spec_dir


def check(timeout=60):
    """Raise :class:`SandboxUnavailable` unless a sandboxed Python starts here as an unprivileged
    user, with no network, and cannot write outside its folder. Returns bwrap's version."""
    tool = bwrap()
    if tool is None:
        raise SandboxUnavailable(
            "no sandbox: bubblewrap is not installed (Debian/Ubuntu: `apt-get install "
            "bubblewrap`); grading runs every student's notebook in it. To grade without it, "
            "at your own risk, pass --unsafe")
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "no sandbox: the grader must run as root to start each notebook's sandbox as a "
            "user of its own (or pass --unsafe to grade without it)")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "work").mkdir()
        (tmp / "runtime").mkdir()
        (tmp / "data").mkdir()
        config = {"bwrap": tool, "library": str(library()),
                  "data_root": str(tmp / "data"), "dataset": "none", "runtime": str(tmp / "runtime"),
                  "writable_root": str(tmp / "work"), "slot": 0, "limits": asdict(Limits())}
        probe = ("import os, socket, sys\n"
                 "assert os.getuid() != 0, 'root'\n"
                 "open('ok', 'w').write('x')\n"
                 "try:\n    open(sys.executable + '.x', 'w'); print('writable'); sys.exit(1)\n"
                 "except OSError: pass\n"
                 "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2); "
                 "print('network'); sys.exit(1)\nexcept OSError: pass\n")
        _give(tmp / "work", UID_BASE)
        args = command(config, tmp / "work", [sys.executable, "-I", "-c", probe])
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SandboxUnavailable("no sandbox: bubblewrap did not start a Python in "
                                     f"{timeout} s")
        if proc.returncode != 0 or not (tmp / "work" / "ok").is_file():
            raise SandboxUnavailable(
                "no sandbox: bubblewrap could not start an isolated, unprivileged Python here "
                f"({(proc.stdout + proc.stderr).strip().splitlines()[-1:] or proc.returncode}); "
                "pass --unsafe to grade without it")
    return subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    kernel = sub.add_parser("kernel", help="(nbgrader's kernelspec) start a sandboxed kernel")
    kernel.add_argument("--config", required=True)
    sub.add_parser("check", help="say whether the sandbox works on this machine")
    args, rest = parser.parse_known_args(argv)
    if args.command == "kernel":
        launch(args.config, rest)
    try:
        print(f"sandbox ok: {check()}")
    except SandboxUnavailable as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
