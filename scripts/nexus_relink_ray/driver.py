"""Prove a guest's run on a Ray cluster: plan locally, one Ray task per segment, join.

The three steps are `nexus-relink` subcommands (`plan`, `prove-segment`, `join`); this module
only schedules them on Ray:

1. ``plan`` runs the guest once on this machine and writes one self-contained job file per
   segment plus the statement (``DIR/statement.bin``).
2. The ``nexus-relink`` binary and every job go into Ray's object store (workers on other
   machines have neither the files nor the binary: no shared disk is assumed). One Ray task per
   segment writes the binary to a per-node cache, runs ``prove-segment`` on its job and returns
   the segment proof's bytes. A task whose worker dies is retried by Ray (``max_retries``).
3. As segments finish, the driver writes each proof to its work directory (it never holds all
   of them in memory) and finally runs ``join``, which verifies every segment and the chain
   before it writes ``-o``. A segment that ``join`` finds invalid (corrupted on the way back)
   is proven again once; nothing is written at ``-o`` unless the joined proof verified.

Test hook (not in ``--help``): ``--inject-corrupt-segment K`` flips bytes in segment K's proof
the first time it arrives, as a corrupted transfer would.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Ray reports usage statistics unless told not to; a proving cluster has no reason to.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

EXIT_FAILED = 1  # refused, a segment failed, the joined proof did not verify
EXIT_INPUT = 2  # an input file (IN, --input, --binary) unreadable

MIN_TASK_MEMORY = 64 << 20


class DriverError(Exception):
    """A failure with the exit code the driver ends with."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Job:
    index: int
    path: Path
    cycles: int
    estimated_peak_bytes: int


@dataclass
class Plan:
    segments: int
    cycles: int
    program_id: str
    statement: Path
    jobs: list[Job]


@dataclass
class Outcome:
    """What the run did, for the summary and `--json`."""

    segments: int = 0
    ray_tasks: int = 0
    retries: int = 0
    reproved: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    proof_bytes: int = 0
    program_id: str = ""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="ray_prove.py",
        description=(
            "Prove a guest's run on a Ray cluster: nexus-relink plan runs it here and writes "
            "one job per segment; one Ray task per segment runs nexus-relink prove-segment on a "
            "worker; nexus-relink join verifies the segments and the chain and writes the proof "
            "that `nexus-relink verify PROOF --elf IN` checks."
        ),
        epilog=(
            "Exit codes: 0 the proof was written and verified; 1 refused (private input, a "
            "segment's estimated memory larger than any node's), a segment failed after its "
            "retries, or the joined proof did not verify (nothing is written at -o); 2 IN, "
            "--input or --binary unreadable. Without --address a local cluster is started and "
            "stopped. Cluster set-up: README, 'Distributed proving'."
        ),
    )
    p.add_argument("elf", metavar="IN", type=Path, help="the guest ELF to run and prove")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="PROOF",
        help="where the proof goes (written only once it verifies)",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="a running cluster (HOST:PORT of `ray start --head`); default: start a local one",
    )
    p.add_argument(
        "--segment-cycles",
        type=int,
        metavar="N",
        help="cycles per segment (default: nexus-relink's, 2^20 - 1)",
    )
    p.add_argument("--input", type=Path, metavar="F", help="the guest's public input")
    p.add_argument(
        "--private-input",
        type=Path,
        metavar="F",
        help="refused: segment boundaries are public and jobs carry the input to "
        "other machines (prove it locally with nexus-relink prove)",
    )
    p.add_argument("--abi", metavar="ABI", help="the guest's system-call convention (as `run`)")
    p.add_argument(
        "--binary",
        type=Path,
        metavar="PATH",
        help="the nexus-relink binary (default: on PATH, else target/release/)",
    )
    p.add_argument(
        "--cpus-per-task",
        type=float,
        default=1.0,
        metavar="N",
        help="CPUs Ray reserves per segment task; the prover uses as many threads (default 1)",
    )
    p.add_argument(
        "--num-cpus",
        type=int,
        metavar="N",
        help="CPUs of the local cluster started without --address (default: all)",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=3,
        metavar="N",
        help="times Ray runs a segment again when its worker dies (default 3)",
    )
    p.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="keep jobs and segment proofs here (default: a temporary directory, "
        "removed at the end)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: segments, ray_tasks, retries, wall_s, "
        "proof_bytes, proof, program_id, reproved (or error)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--inject-corrupt-segment", type=int, metavar="K", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.segment_cycles is not None and a.segment_cycles <= 0:
        p.error(f"--segment-cycles {a.segment_cycles}: a segment holds at least 1 cycle")
    if a.cpus_per_task <= 0:
        p.error("--cpus-per-task must be more than 0")
    if a.max_retries < 0:
        p.error("--max-retries cannot be negative")
    return a


def find_binary(given: Path | None) -> Path:
    if given is not None:
        if not (given.is_file() and os.access(given, os.X_OK)):
            raise DriverError(f"{given}: --binary is not an executable file", EXIT_INPUT)
        return given
    on_path = shutil.which("nexus-relink")
    if on_path:
        return Path(on_path)
    built = Path(__file__).resolve().parents[2] / "target" / "release" / "nexus-relink"
    if built.is_file():
        return built
    raise DriverError(
        "no nexus-relink binary: none on PATH and no target/release/nexus-relink "
        "(build it with `cargo build --release`, or give --binary PATH)",
        EXIT_INPUT,
    )


def run_tool(binary: Path, args: list[str]) -> tuple[int, Any, str]:
    """Run nexus-relink with `--json`; its exit code, its JSON object (or None) and stderr."""
    p = subprocess.run([str(binary), *args, "--json"], capture_output=True, text=True)
    try:
        obj = json.loads(p.stdout) if p.stdout.strip() else None
    except json.JSONDecodeError:
        obj = None
    return p.returncode, obj, p.stderr.strip()


def tool_error(what: str, code: int, obj: Any, stderr: str) -> DriverError:
    msg = obj.get("error") if isinstance(obj, dict) and obj.get("error") else stderr
    return DriverError(f"{what}: {msg or f'exit code {code}'}", EXIT_INPUT if code == 2 else 1)


def plan(binary: Path, a: argparse.Namespace, jobs_dir: Path) -> Plan:
    args = ["plan", str(a.elf), "-d", str(jobs_dir)]
    if a.segment_cycles is not None:
        args += ["--segment-cycles", str(a.segment_cycles)]
    if a.input is not None:
        args += ["--input", str(a.input)]
    if a.abi is not None:
        args += ["--abi", a.abi]
    code, obj, err = run_tool(binary, args)
    if code != 0 or not isinstance(obj, dict):
        raise tool_error(f"nexus-relink plan {a.elf}", code, obj, err)
    jobs = [
        Job(
            index=int(j["index"]),
            path=Path(j["path"]),
            cycles=int(j["cycles"]),
            estimated_peak_bytes=int(j["estimated_peak_bytes"]),
        )
        for j in obj["jobs"]
    ]
    return Plan(
        segments=int(obj["segments"]),
        cycles=int(obj["cycles"]),
        program_id=str(obj["program_id"]),
        statement=Path(obj["statement"]),
        jobs=jobs,
    )


# --- What runs on the workers ----------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover (runs in the child)
    """Make the prover die with the Ray worker that started it (Linux PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def cached_binary(binary: bytes, digest: str) -> Path:
    """The binary on this node, written once per node and digest (atomically)."""
    d = Path(tempfile.gettempdir()) / "nexus-relink-ray" / digest[:16]
    path = d / "nexus-relink"
    if not path.is_file():
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d)
        with os.fdopen(fd, "wb") as f:
            f.write(binary)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    return path


def prove_segment_on_worker(
    binary: bytes, digest: str, job: bytes, index: int, threads: int, attempts: Any
) -> bytes:
    """One Ray task: the job's segment proof, as bytes."""
    import ray

    ray.get(attempts.start.remote(index))
    exe = cached_binary(binary, digest)
    with tempfile.TemporaryDirectory(prefix=f"nexus-relink-seg{index}-") as tmp:
        job_path = Path(tmp) / f"segment-{index:05}.job"
        job_path.write_bytes(job)
        out = Path(tmp) / f"segment-{index:05}.proof"
        env = dict(os.environ, RAYON_NUM_THREADS=str(max(1, threads)))
        p = subprocess.run(
            [str(exe), "prove-segment", str(job_path), "-o", str(out)],
            capture_output=True,
            text=True,
            env=env,
            preexec_fn=_die_with_parent,
        )
        if p.returncode != 0:
            raise RuntimeError(
                f"nexus-relink prove-segment (segment {index}) exited {p.returncode}: "
                f"{p.stderr.strip()}"
            )
        return out.read_bytes()


class Attempts:
    """Counts the attempts of each segment's task (a retried task starts again)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def start(self, index: int) -> int:
        self.counts[index] = self.counts.get(index, 0) + 1
        return self.counts[index]

    def all(self) -> dict[int, int]:
        return dict(self.counts)


# --- The driver ------------------------------------------------------------------------------


def use_cluster_token() -> None:
    """Connect as `ray start` started: with token authentication when a token is there.

    `ray start` turns token authentication on when RAY_AUTH_MODE is unset and a token exists
    (~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH), but a driver connecting with
    `ray.init(address=...)` does not; do the same here so that both sides agree.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    if (
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").is_file()
    ):
        os.environ["RAY_AUTH_MODE"] = "token"


def node_memory(ray: Any) -> float:
    """The largest `memory` resource of any alive node (what one task may declare)."""
    best = 0.0
    for n in ray.nodes():
        if n.get("Alive"):
            best = max(best, float(n.get("Resources", {}).get("memory", 0.0)))
    return best


def corrupt(data: bytes) -> bytes:
    """Flip bytes in the second half of a segment proof (its STARK, not its header)."""
    b = bytearray(data)
    for i in range(len(b) // 2, len(b), max(1, len(b) // 64)):
        b[i] ^= 0x5A
    return bytes(b)


def join(binary: Path, p: Plan, seg_dir: Path, out: Path) -> tuple[int, Any, str]:
    segs = [str(seg_dir / f"segment-{j.index:05}.proof") for j in p.jobs]
    return run_tool(binary, ["join", str(p.statement), *segs, "-o", str(out)])


def prove_on_ray(a: argparse.Namespace, binary: Path, work: Path, outcome: Outcome) -> None:
    t0 = time.monotonic()
    jobs_dir = work / "jobs"
    seg_dir = work / "segments"
    jobs_dir.mkdir(parents=True, exist_ok=True)
    seg_dir.mkdir(parents=True, exist_ok=True)
    p = plan(binary, a, jobs_dir)
    outcome.segments = p.segments
    outcome.program_id = p.program_id

    if a.address:
        use_cluster_token()
    import ray

    # The workers import this module: ship it (no shared disk).
    runtime_env = {"py_modules": [str(Path(__file__).resolve().parent)]}
    if a.address:
        ray.init(
            address=a.address, runtime_env=runtime_env, log_to_driver=False, logging_level="ERROR"
        )
    else:
        ray.init(
            num_cpus=a.num_cpus,
            include_dashboard=False,
            runtime_env=runtime_env,
            log_to_driver=False,
            logging_level="ERROR",
        )
    try:
        largest = node_memory(ray)
        for j in p.jobs:
            if largest and j.estimated_peak_bytes > largest:
                raise DriverError(
                    f"segment {j.index} needs about {j.estimated_peak_bytes / 2**30:.1f} GiB "
                    f"and the largest node offers {largest / 2**30:.1f} GiB to tasks: lower "
                    "--segment-cycles or add a larger node"
                )
        binary_bytes = binary.read_bytes()
        digest = hashlib.sha256(binary_bytes).hexdigest()
        binary_ref = ray.put(binary_bytes)
        del binary_bytes
        attempts = ray.remote(num_cpus=0)(Attempts).remote()
        task = ray.remote(prove_segment_on_worker)
        threads = max(1, int(a.cpus_per_task))
        job_refs = {j.index: ray.put(j.path.read_bytes()) for j in p.jobs}
        by_index = {j.index: j for j in p.jobs}

        def submit(j: Job) -> Any:
            opts = task.options(
                num_cpus=a.cpus_per_task,
                memory=max(MIN_TASK_MEMORY, j.estimated_peak_bytes),
                max_retries=a.max_retries,
                retry_exceptions=False,
                name=f"prove-segment-{j.index}",
            )
            return opts.remote(binary_ref, digest, job_refs[j.index], j.index, threads, attempts)

        submitted = 0

        def run_all(todo: list[Job], bar: Any) -> None:
            nonlocal submitted
            pending = {submit(j): j.index for j in todo}
            submitted += len(pending)
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                k = pending.pop(ref)
                try:
                    data = ray.get(ref)
                except ray.exceptions.RayTaskError as e:
                    raise DriverError(f"segment {k}: {e.cause if e.cause else e}") from None
                except ray.exceptions.RayError as e:
                    raise DriverError(
                        f"segment {k}: its task failed after {a.max_retries} retries "
                        f"({type(e).__name__})"
                    ) from None
                del ref
                if a.inject_corrupt_segment == k and k not in outcome.reproved:
                    data = corrupt(data)
                (seg_dir / f"segment-{k:05}.proof").write_bytes(data)
                del data
                bar.update(1)

        from tqdm import tqdm

        with tqdm(
            total=p.segments, unit="segment", desc="proving", disable=a.quiet, file=sys.stderr
        ) as bar:
            run_all(p.jobs, bar)
            code, obj, err = join(binary, p, seg_dir, a.output)
            invalid = obj.get("invalid", []) if isinstance(obj, dict) else []
            if code != 0 and invalid:
                # A corrupted segment proof: prove it once more.
                outcome.reproved = sorted(int(k) for k in invalid)
                bar.total += len(outcome.reproved)
                bar.refresh()
                run_all([by_index[k] for k in outcome.reproved], bar)
                code, obj, err = join(binary, p, seg_dir, a.output)
        if code != 0:
            raise tool_error("nexus-relink join", code, obj, err)
        counts = ray.get(attempts.all.remote())
        outcome.ray_tasks = sum(counts.values())
        outcome.retries = outcome.ray_tasks - submitted + len(outcome.reproved)
        outcome.proof_bytes = a.output.stat().st_size
    finally:
        ray.shutdown()
        outcome.wall_s = round(time.monotonic() - t0, 3)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    # Ray prints its own notices (a worker that died, ...) on stdout; with --json, stdout
    # holds the one JSON object only, so everything else goes to stderr.
    out = sys.stdout
    if a.json:
        sys.stdout = sys.stderr
    try:
        return run(a, out)
    finally:
        sys.stdout = out


def run(a: argparse.Namespace, out: Any) -> int:
    outcome = Outcome()
    work: Path | None = None
    try:
        if a.private_input is not None:
            raise DriverError(
                "--private-input: refused on a cluster: segment boundaries (memory and "
                "registers) are public in the proof and the jobs carry the input to other "
                "machines; prove it on one machine with `nexus-relink prove --private-input`"
            )
        for f, what in ((a.elf, "IN"), (a.input, "--input")):
            if f is not None and not f.is_file():
                raise DriverError(f"{f}: {what} is not a readable file", EXIT_INPUT)
        binary = find_binary(a.binary)
        if a.work_dir is not None:
            work = a.work_dir
            work.mkdir(parents=True, exist_ok=True)
            prove_on_ray(a, binary, work, outcome)
        else:
            with tempfile.TemporaryDirectory(prefix="nexus-relink-ray-") as tmp:
                prove_on_ray(a, binary, Path(tmp), outcome)
    except DriverError as e:
        if a.json:
            print(json.dumps({"error": str(e), **outcome.__dict__}), file=out, flush=True)
        print(f"error: {e}", file=sys.stderr)
        return e.code
    summary = dict(outcome.__dict__, proof=str(a.output))
    if a.json:
        print(json.dumps(summary), file=out, flush=True)
    elif not a.quiet:
        print(
            f"{a.output}: {outcome.segments} segments, {outcome.ray_tasks} Ray tasks "
            f"({outcome.retries} retries), {outcome.proof_bytes} bytes, {outcome.wall_s:.1f} s; "
            f"program id {outcome.program_id}",
            file=sys.stderr,
        )
    return 0
