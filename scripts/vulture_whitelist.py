"""Names vulture cannot see being used: called by frameworks, or loaded by name.

Dagger calls the module's functions, OpenFeature the provider's methods; runners are loaded
from their registry by name; ruamel.yaml reads the attribute set on its loader; tests read
SARIF back; the JUnit outcome and the deploy settings' choices are compared as values; some
fields of result.json are there for people and other tools, not for this SDK; Python calls a
package's ``__getattr__`` and ``__dir__`` (the public API's names load on first use); the
base-image builder's path is what the tests hold setup.py's shipped files to.
fields of result.json and comparison.json are there for people and other tools, not for this
SDK; Python calls a package's ``__getattr__`` and ``__dir__`` (the public API's names load on
first use).
"""

from ci.main import Ci

import pipelines
from pipelines.audit import DeployAuditEntry
from pipelines.cli.display import SafeConsole
from pipelines.config.deploy import Approval
from pipelines.deploy.events import DeployResumed, StepDone
from pipelines.deploy.kubernetes.validate import crd_documents
from pipelines.deploy.records import (
    ClientsSummary,
    DeployMetricsFile,
    DrillReportFile,
    Durations,
    MonitoringConfig,
)
from pipelines.flags.edit import YAML
from pipelines.flags.openfeature import PipelinesProvider
from pipelines.flags.store import FlagEntry
from pipelines.gate.perf import ComparisonFile
from pipelines.gate.rules import decision_of
from pipelines.operations.run import run_pipeline
from pipelines.readers.coverage import Coverage
from pipelines.readers.findings import read_sarif
from pipelines.readers.junit import Outcome, TestSummary
from pipelines.runners.base import ExecuteStage
from pipelines.runners.docker import DockerRunner
from pipelines.runners.local import LocalRunner
from pipelines.stages.details import CustomDetails, TestDetails
from pipelines.toolchain import BASE_IMAGE_BUILDER

_ = (Ci.toolchain, Ci.ci, Ci.verdict, Ci.health, Ci.lint, Ci.security, Ci.test)
_ = (Ci.deploy, Ci.rollback, Ci.rollback_drill, Ci.resume, Ci.promote, Ci.abort, Ci.status)
_ = (Ci.watch, Ci.stage, Ci.annotations, Ci.summary)
_ = (
    PipelinesProvider.from_file,
    PipelinesProvider.get_metadata,
    PipelinesProvider.resolve_boolean_details,
    PipelinesProvider.resolve_string_details,
    PipelinesProvider.resolve_integer_details,
    PipelinesProvider.resolve_float_details,
    PipelinesProvider.resolve_object_details,
)
_ = (DockerRunner, LocalRunner, read_sarif, Outcome.XFAILED)
_ = (TestDetails.pytest_exit_code, TestDetails.report_problem, CustomDetails.missing_reports)
YAML.preserve_quotes  # noqa: B018 - set on the loader, read by ruamel.yaml
_ = (Approval.REQUIRED,)
# Deploy files: fields written for people, auditors and other tools.
_ = (Durations.detect_after_exposure, Durations.decision_to_traffic_on_stable)
_ = (Durations.decision_to_cleanup, DeployMetricsFile.traffic_switches_seconds)
_ = (MonitoringConfig.health_checks, MonitoringConfig.endpoints, DeployAuditEntry.damaged)
_ = (DeployAuditEntry.drill_passed, DrillReportFile.time_to_detect_seconds)
_ = (DrillReportFile.time_to_rollback_seconds,)
_ = (ClientsSummary.failed_injected, ClientsSummary.by_version)
_ = (DrillReportFile.detect_and_rollback_seconds, StepDone.promoted, DeployResumed.promoted)
_ = (pipelines.__getattr__, pipelines.__dir__)
# rich calls it when the reader of the output went away.
_ = (SafeConsole.on_broken_pipe,)
# The documented Python API's run, and the base-image script an installed SDK ships: for
# callers outside this package.
_ = (run_pipeline, BASE_IMAGE_BUILDER)
_ = (ComparisonFile.min_effect_percent, ComparisonFile.max_slowdown_percent)
_ = ComparisonFile.over_limit
_ = crd_documents  # the tests install our CRDs into their cluster with it
# Gate decision: fields written for people and other tools; a decision from parsed JSON
# (what a Python caller or a test holds).
_ = (Coverage.line_percent, Coverage.branch_percent, TestSummary.sources, decision_of)
# The flags audit log's chain field: checked over the entry as written, by AuditLog.verify.
_ = (FlagEntry.prev,)
# A Protocol's call signature: what the scheduler calls an executor with.
_ = (ExecuteStage.__call__,)
