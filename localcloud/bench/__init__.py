"""A wave of N servers the whole way through the pipeline on the local cloud, what it cost, how it grows.

    python -m localcloud.bench --servers 200             # one wave: its table, reports/bench.json
    python -m localcloud.bench --sizes 10,100,1000       # a fresh local cloud per size: growth table,
                                                         # reports/bench-scale.json (make bench-scale)

A wave goes: agent installed -> settings enforced -> replicated -> test launched and verified ->
approval requested -> approved by an allowed approver in Systems Manager (SendAutomationSignal to the
SSM Automation emulator, as the console does for a person) -> cut over -> verified -> finalized.

The run fails (exit 1) unless:

- nothing is lost: every server is finalized (MGN lifecycle CUTOVER, finalized, replication
  stopped) and its one gate execution SUCCEEDED;
- nothing is done twice: exactly one cutover job and one FinalizeCutover per server, and no
  StartCutover refused; test launches per server are counted (no test fails here, so one each);
- MGN's quotas held: the emulator's jobs are sampled at every clock step and at every job start
  (at most 20 active jobs, 200 servers across active jobs, one active job per server), and the
  servers holding a replication slot never exceed the actively-replicating-servers quota;
- the dead-letter queues are empty;
- no function failed: no event or schedule invocation raised, no OnFailure record; errors a state
  machine's Retry handled are reported apart (their execution must still have SUCCEEDED).

The approver approves every request waiting in the console each time it looks (every 10 s, never
on the minute, when the launch batcher runs), however many: the pipeline's gate queues each approved
cutover and the launch batcher starts the queued ones in as few MGN jobs as the quotas allow (20 jobs,
200 servers in jobs per Region), after any test cleanup job of the same server. So no StartCutover
is refused and the quotas hold without the approver counting anything.

Costs per migrated server at list prices (us-east-1) for Lambda, Step Functions and EventBridge are
computed from what the run measured: the constants in ``cost.py`` name their source pages.

Modules: ``wave`` drives the wave, ``quotas`` watches MGN's quotas, ``executions`` reads the gate's
Step Functions executions, ``measure`` turns the run into figures and checks, ``cost`` prices them,
``report`` prints them, ``speedups`` takes moto's slow paths out of the way, ``cli`` is the command.
"""

from localcloud.bench.cli import main, run_sizes
from localcloud.bench.cost import cost_per_server, function_memory_mb
from localcloud.bench.measure import failed_checks
from localcloud.bench.quotas import QuotaWatch, raise_replication_quota
from localcloud.bench.report import growth_table, print_checks, print_cost, print_growth, print_table
from localcloud.bench.wave import WaveFailed, run_wave

__all__ = [
    "QuotaWatch",
    "WaveFailed",
    "cost_per_server",
    "failed_checks",
    "function_memory_mb",
    "growth_table",
    "main",
    "print_checks",
    "print_cost",
    "print_growth",
    "print_table",
    "raise_replication_quota",
    "run_sizes",
    "run_wave",
]
