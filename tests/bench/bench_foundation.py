"""Foundation figures: compiling a TrainingRun, and `mlcd run` against a bare script and against MLflow.

    python tests/bench/bench_foundation.py [--runs 5] [--slow-runs 3]

1. Compile. ``import mlcd`` + validating the iris sample + its first compile, in a fresh Python
   (estimator catalog cached in MLCD_HOME, as after any earlier mlcd command; and once more with a
   fresh MLCD_HOME, where scikit-learn's estimator list is discovered). Then in this process: a
   compile with every compile cache cleared, a second compile of a different spec of the same
   shape (new values, structure cached) and a cache hit (the same spec again).
2. `mlcd run manifests/samples/iris-trainingrun.yaml --json -q` as a whole process, each run with
   a fresh MLCD_HOME, with the zygote fork server (the default) and without (MLCD_LOCAL_ZYGOTE=0).
3. tests/bench/bare_iris.py, the same steps in one plain process, on iris and on a 100,000-row
   synthetic CSV (make_classification, 20 features) that mlcd reads from file://; the same model
   (RandomForestClassifier, seed 42) on both sides, and the metrics are compared to prove it.
4. MLflow doing the same job on iris (tests/bench/mlflow_job.py: train, log params and metrics,
   log and register the model in a sqlite store), in its own venv .bench-venv-mlflow, created here
   when missing; MLflow is skipped, saying why, when it cannot be installed. Also second runs in
   the same MLCD_HOME / MLflow store: steady state, where the first run's setup is paid already.

Whole-process targets take turns in rounds, so that the load of this shared machine drifting
during the bench weighs on all of them alike. Memory: the largest single process's peak RSS (what
`/usr/bin/time -f %M` prints) and the peak of the summed PSS of the whole process tree (mlcd runs
a zygote and forked steps beside its main process; PSS counts pages shared by fork once).
Medians; figures and ratios, no asserts.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.timing import bench_line  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SAMPLE = REPO / "manifests" / "samples" / "iris-trainingrun.yaml"
MLCD = Path(sys.executable).with_name("mlcd")
MLFLOW_VENV = REPO / ".bench-venv-mlflow"
ROWS = 100_000
SYNTHETIC_PARAMS = {"n_estimators": 50, "max_depth": 8}

# ---------------------------------------------------------------------------------------------- compile


FIRST_COMPILE = """
import json, sys, time
start = time.perf_counter()
from mlcd.documents import load_file
from mlcd.compiler import compile_trainingrun
imported = time.perf_counter()
tr = load_file(sys.argv[1])[0].validated.resource
validated = time.perf_counter()
compile_trainingrun(tr)
done = time.perf_counter()
print(json.dumps({"import": imported - start, "validate": validated - imported, "compile": done - validated}))
"""


def first_compile(home: Path) -> dict:
    """import + validate + compile in a fresh Python, its own clock and the whole process's."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", FIRST_COMPILE, str(SAMPLE)], capture_output=True, text=True,
                          env={**os.environ, "MLCD_HOME": str(home)}, cwd=home.parent)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"first compile failed: {done.stderr[-2000:]}")
    parts = json.loads(done.stdout)
    return {**parts, "total": sum(parts.values()), "process": wall}


def variants(count: int) -> list:
    """TrainingRuns of the iris sample's shape with other values: each a new entry for the value cache."""
    from mlcd.api.v1alpha1.validation import validate_document

    document = yaml.safe_load(SAMPLE.read_text())
    found = []
    for i in range(count):
        one = copy.deepcopy(document)
        one["metadata"]["name"] = f"iris-{i}"
        one["spec"]["model"]["params"]["n_estimators"] = 100 + i
        validated = validate_document(one)
        if not validated.ok:
            raise RuntimeError(f"variant {i} is invalid: {validated.problems}")
        found.append(validated.resource)
    return found


def clear_compile_caches() -> None:
    from mlcd.compiler import compile as compile_module

    # The brief's two caches, and the structure's digest too: "cleared" means nothing is reused.
    compile_module._structure.cache_clear()
    compile_module._structure_digest.cache_clear()
    compile_module._compile_cached.cache_clear()


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def compile_in_process(runs: int) -> dict:
    from mlcd.compiler import compile_trainingrun

    specs = variants(runs + 1)
    compile_trainingrun(specs[0])  # kfp's own lazy imports belong to the first compile, not to these
    cleared = []
    for _ in range(runs):
        clear_compile_caches()
        cleared.append(timed(lambda: compile_trainingrun(specs[0])))
    second = [timed(lambda s=spec: compile_trainingrun(s)) for spec in specs[1:]]
    calls = 2000
    hits = [timed(lambda: [compile_trainingrun(specs[0]) for _ in range(calls)]) / calls for _ in range(runs)]
    return {"cleared": statistics.median(cleared), "second": statistics.median(second),
            "hit": statistics.median(hits)}


def compile_figures(scratch: Path, runs: int, slow_runs: int) -> dict:
    warm_home = scratch / "compile-home"
    first_compile(warm_home)  # fills the estimator catalog cache; unmeasured
    warm, fresh = [], []
    for i in range(runs):  # alternating, so that a drifting machine load weighs on both alike
        warm.append(first_compile(warm_home))
        if i < slow_runs:
            fresh.append(first_compile(scratch / f"compile-fresh-{i}"))
            shutil.rmtree(scratch / f"compile-fresh-{i}", ignore_errors=True)
    medians = {key: statistics.median(one[key] for one in warm) for key in warm[0]}
    return {"first": medians, "first_fresh": statistics.median(one["total"] for one in fresh),
            "first_fresh_process": statistics.median(one["process"] for one in fresh),
            **compile_in_process(runs)}


# ------------------------------------------------------------------------------------- whole processes


def session_pss_kb(session: int) -> int:
    """Summed PSS of the processes in a session (a process started with start_new_session leads one,
    and its children, the zygote and the steps stay in it)."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[3]) != session:
                continue
            for line in Path(f"/proc/{name}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except (OSError, ValueError, IndexError):
            continue  # gone between the listing and the read
    return total


class TreeMemory(threading.Thread):
    """Samples a session's summed PSS every 50 ms and keeps the peak."""

    def __init__(self, session: int):
        super().__init__(daemon=True)
        self.session, self.peak_kb, self.done = session, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak_kb = max(self.peak_kb, session_pss_kb(self.session))


@dataclass
class Sample:
    seconds: float
    max_rss_mb: float
    tree_pss_mb: float
    stdout: str


# Linux carries a parent's RSS high-water mark into a child across fork and exec, so a job started
# from this process would report at least this process's RSS. A small Python in between (as
# /usr/bin/time, which a fresh machine may lack) starts the job, times it and reports its own figure.
LAUNCH = """
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(f"{time.perf_counter() - start} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_process(argv: list[str], env: dict, cwd: Path) -> Sample:
    """One whole process: wall time, its largest process's max RSS and its tree's peak PSS."""
    figures = cwd / ".figures"
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen([sys.executable, "-S", "-c", LAUNCH, str(figures), *argv], stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)
        memory = TreeMemory(process.pid)
        memory.start()
        process.wait()
        memory.done.set()
        memory.join()
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {err.read()[-2000:]}")
        seconds, max_rss_kb = figures.read_text().split()
        return Sample(float(seconds), int(max_rss_kb) / 1024, memory.peak_kb / 1024, out.read())


@dataclass
class Target:
    """A whole-process job; ``command(folder)`` gives argv and extra environment for one run in folder."""

    name: str
    command: Callable[[Path], tuple[list[str], dict]]
    runs: int
    fresh: bool = True  # a new folder for every run; else one folder kept across runs (steady state)
    samples: list[Sample] = field(default_factory=list)
    skipped: str = ""

    def once(self, scratch: Path, index: int) -> Sample:
        folder = scratch / (f"{self.name}-{index}" if self.fresh else self.name).replace(" ", "-")
        folder.mkdir(parents=True, exist_ok=True)
        argv, extra = self.command(folder)
        sample = run_process(argv, {**os.environ, **extra}, folder)
        if self.fresh:
            shutil.rmtree(folder, ignore_errors=True)
        return sample

    def median(self, attribute: str = "seconds") -> float:
        return statistics.median(getattr(s, attribute) for s in self.samples)


def in_rounds(targets: list[Target], scratch: Path) -> None:
    """Each round runs every target that still needs a run: a drifting machine load weighs on all alike."""
    live = [t for t in targets if not t.skipped]
    for index in range(max((t.runs for t in live), default=0)):
        for target in live:
            if len(target.samples) < target.runs:
                target.samples.append(target.once(scratch, index))
                print(f"  {target.name:<34} run {index + 1}: {target.samples[-1].seconds:6.2f} s", flush=True)


def mlcd_run(trainingrun: Path, zygote: bool = True) -> Callable[[Path], tuple[list[str], dict]]:
    def command(folder: Path) -> tuple[list[str], dict]:
        extra = {"MLCD_HOME": str(folder / "home")}
        if not zygote:
            extra["MLCD_LOCAL_ZYGOTE"] = "0"
        return [str(MLCD), "run", str(trainingrun), "--json", "-q"], extra

    return command


def bare(*options: str) -> Callable[[Path], tuple[list[str], dict]]:
    return lambda folder: ([sys.executable, str(HERE / "bare_iris.py"), str(folder / "out"), *options], {})


def mlflow_job(python: Path) -> Callable[[Path], tuple[list[str], dict]]:
    # No usage telemetry leaving the machine during a timing; mlcd sends none either.
    quiet = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    return lambda folder: ([str(python), str(HERE / "mlflow_job.py"), str(folder / "store")], quiet)


# ------------------------------------------------------------------------------------------------ MLflow


def mlflow_python() -> tuple[Path | None, str]:
    """MLflow's venv, made here when missing; (None, why) when it cannot be."""
    import sklearn

    python = MLFLOW_VENV / "bin" / "python"
    check = [str(python), "-c", "import mlflow, sklearn"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, ""
    print(f"creating {MLFLOW_VENV.name} (MLflow, once; a few minutes) ...", flush=True)
    # The same scikit-learn on both sides, so that both train the same model.
    steps = [[sys.executable, "-m", "venv", str(MLFLOW_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", "mlflow", f"scikit-learn=={sklearn.__version__}",
              "pandas"]]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired:
            return None, f"`{' '.join(step[-4:])}` took over 30 minutes"
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            return None, f"`{' '.join(step[2:4])}` failed: {lines[-1]}"
    return (python, "") if subprocess.run(check, capture_output=True).returncode == 0 else (
        None, "MLflow installed but does not import")


# ----------------------------------------------------------------------------------------------- the jobs


def synthetic_set(scratch: Path) -> Path:
    """A 100,000-row CSV and a TrainingRun reading it from file://, trained like the bare script trains."""
    import pandas as pd
    from sklearn.datasets import make_classification

    features, labels = make_classification(n_samples=ROWS, n_features=20, random_state=0)
    frame = pd.DataFrame(features, columns=[f"x{i:02d}" for i in range(features.shape[1])])
    frame["label"] = labels
    csv = scratch / "synthetic.csv"
    frame.to_csv(csv, index=False)
    document = yaml.safe_load(SAMPLE.read_text())
    document["metadata"]["name"] = "synthetic"
    document["spec"]["data"]["source"] = csv.as_uri()
    document["spec"]["data"]["target"] = "label"
    document["spec"]["model"]["params"] = dict(SYNTHETIC_PARAMS)
    # A gate it passes (accuracy is about 0.91), so that it registers like the bare script saves;
    # no hand-off, which the bare script has no counterpart for.
    document["spec"]["gates"] = [{"metric": "accuracy", "min": 0.5}]
    document["spec"].pop("deploy", None)
    trainingrun = scratch / "synthetic-trainingrun.yaml"
    trainingrun.write_text(yaml.safe_dump(document, sort_keys=False))
    return trainingrun


def metrics_of(target: Target) -> dict:
    """The metrics a job printed: the proof that the jobs compared trained the same model."""
    last = json.loads(target.samples[-1].stdout.strip().splitlines()[-1])
    return last.get("metrics", last)


def step_medians(target: Target) -> dict:
    runs = [json.loads(s.stdout) for s in target.samples]
    steps = {step["name"]: [] for step in runs[0]["steps"]}
    for run in runs:
        for step in run["steps"]:
            steps[step["name"]].append(step["seconds"])
    return {"pipeline": statistics.median(r["seconds"] for r in runs),
            **{name: statistics.median(values) for name, values in steps.items()}}


def iris_targets(runs: int, slow_runs: int, mlflow: Path | None, why: str) -> list[Target]:
    job = mlflow_job(mlflow) if mlflow else None
    return [Target("mlcd run", mlcd_run(SAMPLE), runs),
            Target("mlcd run, zygote off", mlcd_run(SAMPLE, zygote=False), slow_runs),
            Target("bare script", bare(), runs),
            Target("MLflow", job, runs, skipped=why),
            Target("mlcd run, same MLCD_HOME", mlcd_run(SAMPLE), slow_runs, fresh=False),
            Target("MLflow, same store", job, slow_runs, fresh=False, skipped=why)]


def prime(targets: list[Target], scratch: Path) -> None:
    """An unmeasured first run of each steady-state target: it sets up the home or store the measured
    runs reuse, and brings every library of the bench into the page cache."""
    for target in targets:
        if not target.fresh and not target.skipped:
            target.once(scratch, -1)
    bare_one = next(t for t in targets if t.name == "bare script")
    bare_one.once(scratch, -1)


# --------------------------------------------------------------------------------------------- the report


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x"


def compile_rows(c: dict) -> list[tuple]:
    first = c["first"]
    return [
        ("import mlcd + validate + first compile", f"{first['total']:.2f} s", "", ""),
        ("  same, fresh MLCD_HOME (catalog discovered)", f"{c['first_fresh']:.2f} s",
         ratio(c["first_fresh"], first["total"]), ""),
        ("compile, every cache cleared", f"{c['cleared'] * 1e3:.1f} ms", ratio(c["cleared"], c["second"]) +
         " = cleared / structure cached", ""),
        ("second compile (new values, structure cached)", f"{c['second'] * 1e3:.2f} ms", "", ""),
        ("cache hit", f"{c['hit'] * 1e6:.0f} us", "", "< 1000 us"),
    ]


def print_steps(title: str, target: Target) -> None:
    steps = step_medians(target)
    whole = target.median()
    parts = ", ".join(f"{name} {seconds:.2f}" for name, seconds in steps.items() if name != "pipeline")
    print(f"{title}: whole process {whole:.2f} s, pipeline {steps['pipeline']:.2f} s "
          f"({steps['pipeline'] / whole:.0%}); steps (s): {parts}")


def memory_rows(targets: dict[str, Target]) -> list[tuple]:
    """Largest process's max RSS as the value; the whole tree's peak PSS beside it."""
    return [(f"peak memory, {label}", f"{target.median('max_rss_mb'):.0f} MB",
             f"tree {target.median('tree_pss_mb'):.0f} MB PSS", "")
            for label, target in targets.items() if target.samples]


def print_table(rows: list[tuple]) -> None:
    print(f"\n{'figure':<48} {'value':>10}  {'ratio':<36} {'aim'}")
    for figure, value, ratio_text, aim in rows:
        print(f"{figure:<48} {value:>10}  {ratio_text:<36} {aim}".rstrip())


def whole_rows(iris: dict[str, Target], big: dict[str, Target]) -> list[tuple]:
    run, bare_run, mlflow = iris["mlcd run"], iris["bare script"], iris["MLflow"]
    off, same, mlflow_same = iris["mlcd run, zygote off"], iris["mlcd run, same MLCD_HOME"], iris["MLflow, same store"]
    rows = [("mlcd run, iris", f"{run.median():.2f} s", "", ""),
            ("mlcd run, iris, zygote off", f"{off.median():.2f} s", ratio(off.median(), run.median()) + " = off / on",
             ""),
            ("bare script, iris", f"{bare_run.median():.2f} s", ratio(run.median(), bare_run.median()) +
             " = mlcd run / bare", "")]
    if mlflow.samples:
        rows += [("MLflow, iris", f"{mlflow.median():.2f} s", ratio(run.median(), mlflow.median()) +
                  " = mlcd run / MLflow", "<= 0.6x"),
                 ("mlcd run, iris, second run in the same home", f"{same.median():.2f} s", "", ""),
                 ("MLflow, iris, second run in the same store", f"{mlflow_same.median():.2f} s",
                  ratio(same.median(), mlflow_same.median()) + " = mlcd / MLflow", "")]
    else:
        rows.append(("MLflow, iris", "skipped", mlflow.skipped[:60], "<= 0.6x"))
    big_run, big_bare = big["mlcd run"], big["bare script"]
    rows += [(f"mlcd run, {ROWS:,} rows", f"{big_run.median():.2f} s", "", ""),
             (f"bare script, {ROWS:,} rows", f"{big_bare.median():.2f} s",
              ratio(big_run.median(), big_bare.median()) + " = mlcd run / bare", "<= 1.5x")]
    return rows


def report(compiled: dict, iris: dict[str, Target], big: dict[str, Target], runs: dict[str, int]) -> None:
    first = compiled["first"]
    print(f"\nfirst compile in a fresh Python: import {first['import']:.3f} s + load & validate "
          f"{first['validate']:.3f} s + compile {first['compile']:.3f} s; whole process {first['process']:.2f} s")
    rows = compile_rows(compiled)
    print_steps("mlcd run, iris", iris["mlcd run"])
    print_steps("mlcd run, iris, zygote off", iris["mlcd run, zygote off"])
    print_steps(f"mlcd run, {ROWS:,} rows", big["mlcd run"])
    same = [name for name in ("bare script", "MLflow") if iris[name].samples]
    agree = all(metrics_of(iris[name]) == metrics_of(iris["mlcd run"]) for name in same)
    big_agree = metrics_of(big["bare script"]) == metrics_of(big["mlcd run"])
    print(f"same metrics as mlcd run: iris ({', '.join(same)}) {'yes' if agree else 'NO'}; "
          f"{ROWS:,} rows (bare script) {'yes' if big_agree else 'NO'}")
    if iris["MLflow"].skipped:
        print(f"MLflow skipped: {iris['MLflow'].skipped}")
    rows += whole_rows(iris, big)
    rows += memory_rows({"mlcd run, iris": iris["mlcd run"], "bare script, iris": iris["bare script"],
                         "MLflow, iris": iris["MLflow"], f"mlcd run, {ROWS:,} rows": big["mlcd run"],
                         f"bare script, {ROWS:,} rows": big["bare script"]})
    print_table(rows)
    bench_line("mlcd-run-iris-time-ratio", iris["mlcd run"].median() / iris["bare script"].median(), "x", "<=", 1.5)
    bench_line(f"mlcd-run-{ROWS // 1000}k-time-ratio", big["mlcd run"].median() / big["bare script"].median(), "x",
               "<=", 1.5)
    print(f"\nmedians; runs: {', '.join(f'{k} {v}' for k, v in runs.items())}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of the quick figures (default 5)")
    parser.add_argument("--slow-runs", type=int, default=3, help="runs of the slow ones (default 3)")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    mlflow, why = mlflow_python()
    with tempfile.TemporaryDirectory(prefix="mlcd-bench-") as name:
        scratch = Path(name)
        # This process compiles too: its estimator catalog cache goes to the scratch, not ~/.mlcd.
        os.environ["MLCD_HOME"] = str(scratch / "bench-home")
        compiled = compile_figures(scratch, args.runs, args.slow_runs)
        iris = iris_targets(args.runs, args.slow_runs, mlflow, why)
        print("iris, whole processes, in rounds:", flush=True)
        prime(iris, scratch)
        in_rounds(iris, scratch)
        synthetic = synthetic_set(scratch)
        big = [Target("mlcd run", mlcd_run(synthetic), args.slow_runs),
               Target("bare script", bare("--csv", str(synthetic.with_name("synthetic.csv")), "--target", "label",
                                          "--n-estimators", str(SYNTHETIC_PARAMS["n_estimators"]),
                                          "--max-depth", str(SYNTHETIC_PARAMS["max_depth"])), args.slow_runs)]
        print(f"{ROWS:,} rows, whole processes, in rounds:", flush=True)
        in_rounds(big, scratch)
        report(compiled, {t.name: t for t in iris}, {t.name: t for t in big},
               {"quick (mlcd run, bare script, MLflow on iris; compiles)": args.runs,
                "slow (zygote off, same home/store, 100k, fresh-home compile)": args.slow_runs})
    print(f"bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
