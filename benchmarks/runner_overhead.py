"""Local runner overhead, and the example pipeline against a sequential script.

Prints JSON. Targets:
- 30 trivial stages in a DAG: under 25 ms of runner overhead per stage, measured against the
  same 30 commands run one after another with plain ``subprocess.run``;
- the example pipeline (``pipelines run``, its project environment already built, as on every
  run after the first) against a plain sequential script of the very same tool commands
  (imported from the builders the stages use, each linter from the environment the lint stage
  installs it in): ratio <= 0.8 on 2 cores, from running independent stages in parallel;
- the same for two projects of other shapes that the benchmark writes itself: flake8 and black
  pinned in requirements-dev.txt (a flat package), and mypy pinned in tox (a src layout);
- on each of the three, a stage process's start-up: ``pipelines stage install`` on the warm
  project (it starts no tool: interpreter, command line, config, project facts, the
  environment's check and its result) against its floor, an interpreter that only parses the
  same pipeline.yaml with PyYAML: ratio <= 2.

Every figure is the median of ``--repeat`` samples (start-up: ``--samples``), the baseline
measured in the same run, interleaved with what it is compared to (the machine may be shared).

    python benchmarks/runner_overhead.py [--repeat 5] [--samples 15] [--skip-example]
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines.config.pipeline import load_config
from pipelines.plan import Plan, PlannedStage
from pipelines.project.commands import (
    FILES,
    lint_argv,
    lint_tools,
    pytest_command,
    security_commands,
)
from pipelines.project.environment import ensure, install_plan
from pipelines.project.facts import read_facts
from pipelines.project.tool_env import tool_bin
from pipelines.runners.local import LocalRunner
from pipelines.stages.lint import hook_files

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "service"
TRIVIAL = ("true",)


def dag_of_30() -> Plan:
    """Six layers of five stages; each stage needs every stage of the layer before."""
    stages = []
    for layer in range(6):
        for index in range(5):
            needs = tuple(f"s{layer - 1}_{i}" for i in range(5)) if layer else ()
            stages.append(PlannedStage(f"s{layer}_{index}", (TRIVIAL,), needs=needs))
    return Plan("bench", "ci", tuple(stages))


def sequential_trivial(count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        subprocess.run(list(TRIVIAL), check=True)
    return time.perf_counter() - started


def runner_trivial(project: Path, max_parallel: int) -> float:
    started = time.perf_counter()
    result = LocalRunner(project, max_parallel=max_parallel).run(dag_of_30())
    elapsed = time.perf_counter() - started
    assert result.ok
    return elapsed


def sequential_script(project: Path) -> list[list[str]]:
    """The very argv lists the example pipeline's stages run (from the same builders), as a
    plain script would run them, in the project environment the install stage built."""
    config, facts = load_config(project), read_facts(project)
    env, _built = ensure(project, install_plan(config, facts), os.environ)
    python, reports = str(env.python), str(project / "reports")
    linters = []
    for tool in lint_tools(config, facts):
        argv = lint_argv(tool, config, facts, python, reports)
        if FILES in argv:
            at = argv.index(FILES)
            argv = [*argv[:at], *hook_files(project, tool), *argv[at + 1 :]]
        linters.append([str(tool_bin(tool, os.environ) / argv[0]), *argv[1:]])
    return [
        *linters,
        *security_commands(config, facts, python).values(),
        pytest_command(config, facts, python, reports),
    ]


def run_script(project: Path) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COVERAGE_FILE": "reports/.coverage"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    (project / "reports" / "lint").mkdir(parents=True, exist_ok=True)
    (project / "reports" / "test").mkdir(parents=True, exist_ok=True)
    commands = sequential_script(project)  # the environment is built before the clock starts
    started = time.perf_counter()
    for argv in commands:
        subprocess.run(argv, cwd=project, env=env, capture_output=True, check=False)
    return time.perf_counter() - started


def run_pipeline(project: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "run", "-C", str(project), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stdout + done.stderr
    return elapsed


def _copy_example(target: Path) -> Path:
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("reports", "artifacts"))
    return target


def _timed(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, capture_output=True, check=True)
    return time.perf_counter() - started


def stage_startup(project: Path, samples: int) -> dict[str, object]:
    """A warm ``pipelines stage install`` process against an interpreter that only parses the
    project's pipeline.yaml, if it has one (the floor of any stage process), interleaved."""
    stage = [sys.executable, "-m", "pipelines", "stage", "install", "--env", "ci"]
    floor = [
        sys.executable,
        "-c",
        "import os, yaml\n"
        "loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)\n"
        "found = os.path.exists('pipeline.yaml')\n"
        "yaml.load(open('pipeline.yaml', 'rb').read() if found else b'', Loader=loader)\n",
    ]
    stage_ms, floor_ms = [], []
    _timed(stage, project)  # untimed: the environment and the checked config exist after it
    for _ in range(samples):
        stage_ms.append(1000 * _timed(stage, project))
        floor_ms.append(1000 * _timed(floor, project))
    ratio = statistics.median(stage_ms) / statistics.median(floor_ms)
    return {
        "stage_process_median_ms": round(statistics.median(stage_ms), 1),
        "floor_median_ms": round(statistics.median(floor_ms), 1),
        "ratio": round(ratio, 2),
        "target_ratio": 2.0,
        "meets_target": ratio <= 2.0,
    }


def compare(project: Path, repeat: int, samples: int) -> dict[str, object]:
    """``pipelines run`` against the same tools run in sequence, both warm; and a stage
    process's start-up against its floor."""
    script_times, pipeline_times = [], []
    run_pipeline(project)  # untimed: builds the project and tool environments both then reuse
    for _ in range(repeat):
        script_times.append(run_script(project))
        pipeline_times.append(run_pipeline(project))
    script, pipeline = statistics.median(script_times), statistics.median(pipeline_times)
    return {
        "runs": repeat,
        "sequential_script_median_s": round(script, 3),
        "pipelines_run_median_s": round(pipeline, 3),
        "sequential_script_s": [round(t, 3) for t in script_times],
        "pipelines_run_s": [round(t, 3) for t in pipeline_times],
        "ratio": round(pipeline / script, 3),
        "target_ratio": 0.8,
        "meets_target": pipeline / script <= 0.8,
        "stage_startup": stage_startup(project, samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--skip-example", action="store_true")
    args = parser.parse_args()
    # The SDK's byte code exists, as an installed package has it (a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would compile every module in every stage process).
    compileall.compile_dir(str(ROOT / "pipelines"), quiet=1)
    output: dict[str, object] = {
        "benchmark": "runner_overhead",
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        bare = min(sequential_trivial(30) for _ in range(args.repeat))
        serial = min(runner_trivial(project, 1) for _ in range(args.repeat))
        parallel = min(runner_trivial(project, 8) for _ in range(args.repeat))
        overhead_ms = 1000 * (serial - bare) / 30
        output["dag_30_trivial_stages"] = {
            "sequential_subprocess_s": round(bare, 3),
            "runner_one_at_a_time_s": round(serial, 3),
            "runner_parallel_s": round(parallel, 3),
            "overhead_per_stage_ms": round(overhead_ms, 2),
            "target_overhead_per_stage_ms": 25,
            "meets_target": overhead_ms < 25,
        }
    if not args.skip_example:
        with tempfile.TemporaryDirectory() as tmp:
            # The layouts the integration tests write (run as a script, the checkout's root is
            # not on sys.path).
            sys.path.insert(0, str(ROOT))
            layouts = importlib.import_module("tests.integration.real_projects")
            write = layouts.write_project
            projects = {
                "example_pipeline": _copy_example(Path(tmp) / "service"),
                "flake8_black_project": write(Path(tmp) / "shapes", layouts.FLAKE8_BLACK),
                "tox_mypy_project": write(Path(tmp) / "tally2", layouts.TOX_MYPY),
            }
            for name, project in projects.items():
                output[name] = compare(project, args.repeat, args.samples)
    output["load_average_at_end"] = os.getloadavg()
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
